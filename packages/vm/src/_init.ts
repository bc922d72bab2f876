// `${` cannot appear literally in the template below; shell parameter expansions use this instead.
const D = '${';

// The guest's /init, run by busybox sh as PID 1.
// - The root share is the read-only lower layer of an overlay whose upper layer (and /tmp) live on
//   the scratch disk of diskSize MiB: whatever the script writes is bounded by that disk, and the
//   upper layer is exactly what it changed (whiteouts for removals, opaque directories).
// - After the script, mount points it did not have are removed, opaque directories are named in
//   /ctl/opaque/N (busybox has no getfattr, so the merged view is asked), the disk's free space goes
//   to /ctl/disk, and unless the disk is full the upper layer is copied to the output share
//   (mapped-xattr: owners, modes, devices and whiteouts arrive as xattrs).
// - The script's output goes to files on the control share, so console noise never mixes in.
export const INIT_SCRIPT = String.raw`#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /ctl /root /lower /disk /out /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules); do insmod /lib/modules/$m || echo "strata-vm: insmod $m failed" > /dev/console; done
case " $(cat /proc/cmdline) " in *" strata.probe "*) echo STRATA_PROBE_OK > /dev/console; poweroff -f;; esac
O=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o $O strata-ctl /ctl || { echo "strata-vm: cannot mount the control share" > /dev/console; poweroff -f; }
fail() { echo "$*" > /ctl/error; sync; poweroff -f; }
mount -t 9p -o $O,ro strata-root /lower || fail "cannot mount the root share"
mount -t ext4 -o noatime,noinit_itable /dev/vda /disk || fail "cannot mount the scratch disk"
mkdir /disk/upper /disk/work /disk/tmp && chmod 1777 /disk/tmp || fail "cannot prepare the scratch disk"
# The merged root directory takes its owner and mode from the upper directory.
chown $(stat -c %u:%g /lower) /disk/upper && chmod $(stat -c %a /lower) /disk/upper || fail "cannot prepare the upper layer"
mount -t overlay overlay -o lowerdir=/lower,upperdir=/disk/upper,workdir=/disk/work,redirect_dir=off,index=off,metacopy=off,xino=off /root || fail "cannot mount the overlay"
CREATED=
MOUNTED=
need() {
  p=
  for part in $(echo "$1" | tr / ' '); do
    p=$p/$part
    if [ ! -e "/root$p" ] && [ ! -L "/root$p" ]; then
      mkdir "/root$p" || fail "cannot create mount point $p in the root"
      CREATED="$p $CREATED"
    fi
  done
}
attach() { need "$1"; shift_target=$1; shift; mount "$@" "/root$shift_target" || fail "cannot mount $shift_target"; MOUNTED="$shift_target $MOUNTED"; }
attach /proc -t proc proc
attach /sys -t sysfs sysfs
attach /dev -o bind /dev
attach /tmp -o bind /disk/tmp
while read tag target; do attach "$target" -t 9p -o $O,ro "$tag"; done < /ctl/mounts
S=/root/tmp/.strata
# busybox is bound in rather than copied: the scratch disk is the script's, however small.
mkdir -p $S/bin && touch $S/busybox && mount -o bind,ro /bin/busybox $S/busybox && cp /ctl/script $S/script && chmod 755 $S/script || fail "cannot stage the script"
MOUNTED="/tmp/.strata/busybox $MOUNTED"
chroot /root /tmp/.strata/busybox --install -s /tmp/.strata/bin
interp=$(sed -n '1s/^#![ ]*\([^ ]*\).*/\1/p' $S/script)
if [ -n "$interp" ] && chroot /root /tmp/.strata/busybox test -x "$interp"; then set -- /tmp/.strata/script
elif chroot /root /tmp/.strata/busybox test -x /bin/sh; then set -- /bin/sh /tmp/.strata/script
else set -- /tmp/.strata/busybox sh /tmp/.strata/script; fi
env -i HOME=/root USER=root LOGNAME=root TERM=dumb TMPDIR=/tmp \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/tmp/.strata/bin \
  chroot /root "$@" > /ctl/stdout 2> /ctl/stderr < /dev/null
echo $? > /ctl/status
kill -9 -1
for m in $MOUNTED; do umount -l "/root$m"; done
for d in $CREATED; do rmdir "/root$d"; done
exists() { [ -e "$1" ] || [ -L "$1" ]; }
# A directory is opaque when a lower child it has no upper entry for is missing from the merged root.
hides() {
  for h in "/lower$1"/* "/lower$1"/.[!.]* "/lower$1"/..?*; do
    exists "$h" || continue
    hn=${D}h##*/}
    exists "/disk/upper$1/$hn" && continue
    exists "/root$1/$hn" && return 1
    return 0
  done
  return 1
}
N=0
walk() {
  local c r
  for c in "/disk/upper$1"/* "/disk/upper$1"/.[!.]* "/disk/upper$1"/..?*; do
    [ -d "$c" ] && [ ! -L "$c" ] || continue
    r="$1/${D}c##*/}"
    # A directory the lower layer does not have as a directory hides nothing, nor does anything below it.
    [ -d "/lower$r" ] && [ ! -L "/lower$r" ] || continue
    if hides "$r"; then N=$((N + 1)); printf '%s' "$r" > /ctl/opaque/$N; else walk "$r"; fi
  done
}
walk ""
umount /root || umount -l /root
stat -f -c '%a %S %d' /disk > /ctl/disk
read avail bsize inodes < /ctl/disk
# Less than 256 KiB or no inode left: a write failed for lack of room (the host says so); copy nothing.
if [ $((avail * bsize)) -ge 262144 ] && [ "$inodes" -gt 0 ]; then
  mount -t 9p -o $O strata-out /out || fail "cannot mount the output share"
  cp -a /disk/upper/. /out/ 2> /ctl/copy-errors || fail "copying the changes out of the VM failed: $(head -c 1000 /ctl/copy-errors)"
  umount /out
fi
sync
echo done > /ctl/done
poweroff -f
`;
