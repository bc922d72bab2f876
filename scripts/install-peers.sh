#!/usr/bin/env bash
# Installs the system programs strata's integration tests and benchmarks use (Debian 12), and the
# Nix settings these machines need. Idempotent: installs only what is missing.
set -euo pipefail

# program -> Debian package
declare -A PEERS=(
  [nix-build]=nix-bin [podman]=podman [runc]=runc [skopeo]=skopeo [umoci]=umoci
  [docker-registry]=docker-registry [qemu-system-x86_64]=qemu-system-x86 [fakeroot]=fakeroot
  [proot]=proot [oci-image-tool]=oci-image-tool [htpasswd]=apache2-utils [zstd]=zstd
  [openssl]=openssl [cpio]=cpio [bash-static]=bash-static [file]=file [getfattr]=attr [setfattr]=attr
)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for prog in "${!PEERS[@]}"; do
  command -v "$prog" >/dev/null 2>&1 || missing+=("${PEERS[$prog]}")
done
# busybox must be the static build (it runs inside containers and the VM initramfs).
if ! file -L "$(command -v busybox 2>/dev/null || echo /nonexistent)" 2>/dev/null | grep -q 'statically linked'; then
  missing+=(busybox-static)
fi
# GNU time measures peak RSS in the benchmarks.
[ -x /usr/bin/time ] || missing+=(time)
# A kernel for the VM runner.
if ! ls /boot/vmlinuz-* >/dev/null 2>&1; then missing+=(linux-image-amd64); fi
# mke2fs formats the VM's scratch disk; sbin is often not on a user's PATH, so look there directly.
if ! command -v mke2fs >/dev/null 2>&1 && [ ! -x /usr/sbin/mke2fs ] && [ ! -x /sbin/mke2fs ]; then missing+=(e2fsprogs); fi

if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "install-peers: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-peers: all peers present" >&2
fi

# Nix as root on these machines: no build users, no sandbox (test derivations use /bin/sh), and no
# binary cache (none is reachable; trying one costs seconds per build).
$SUDO mkdir -p /etc/nix
touch /etc/nix/nix.conf 2>/dev/null || $SUDO touch /etc/nix/nix.conf
for setting in 'sandbox = false' 'build-users-group =' 'substituters =' 'experimental-features = nix-command'; do
  key=${setting%% =*}
  grep -q "^$key\b" /etc/nix/nix.conf || echo "$setting" | $SUDO tee -a /etc/nix/nix.conf >/dev/null
done

# The kernel image must be readable by the user running the VM tests.
for k in /boot/vmlinuz-*; do [ -r "$k" ] || $SUDO chmod a+r "$k"; done
echo "install-peers: done" >&2
