// The guest's /init, run by busybox sh as PID 1. It mounts the shares, chroots into the root and runs
// the script with its output in files on the control share, so console noise never mixes in. Every
// directory it creates in the root for a mount point is removed again before power-off, so the
// change list only shows what the script did. Written without `${` so it can live in a template.
export const INIT_SCRIPT = String.raw`#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /ctl /root /sbin /usr/bin /usr/sbin
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
mount -t 9p -o $O strata-root /root || fail "cannot mount the root share"
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
attach /tmp -t tmpfs -o size=$(cat /ctl/tmp-mib)m,mode=1777 tmpfs
while read tag target; do attach "$target" -t 9p -o $O,ro "$tag"; done < /ctl/mounts
S=/root/tmp/.strata
mkdir -p $S/bin && cp /bin/busybox $S/busybox && cp /ctl/script $S/script && chmod 755 $S/script || fail "cannot stage the script"
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
sync
umount /root
echo done > /ctl/done
poweroff -f
`;
