#!/bin/bash
# cgroup-v2-vm.sh: a real cgroup-v2 host for the tests, as a Debian 12 (bookworm) guest under qemu.
#
# Why a VM: a fresh Debian 12 with systemd mounts only cgroup2, and so do current Ubuntu, RHEL
# and Kubernetes nodes; the machines this project is developed on are a v1/v2 hybrid whose
# hierarchies must not be remounted. The guest is what a user's host is: systemd 252, kernel 6.1,
# pure cgroup2, `systemd-run --scope -p Delegate=yes`.
#
#   cgroup-v2-vm.sh image          the image, from the cache or built from nothing (as root)
#   cgroup-v2-vm.sh run DIR CMD    boot with a copy of DIR at /mnt/host, run CMD (bash -c) there as
#                                  root, power off; CMD's output is streamed, its exit status is
#                                  this script's; files CMD writes under /mnt/host/.vm/out come
#                                  back to $SENTINEL_VM_OUT (default DIR/.vm/out)
#
# The image is kept under $SENTINEL_VM_CACHE (default /var/cache/sentinel-vm), keyed by a hash of
# this file and of the Python requirements baked in, so an unchanged recipe boots a cached image
# and a changed one is rebuilt. Building: qemu, debootstrap and e2fsprogs through apt; the guest's
# Debian packages through debootstrap from the mirror of this machine's own apt sources (read at
# run time, never written down); its Python packages installed on this machine, through pip, into
# a venv of Debian's /usr/bin/python3 (the guest's Python is the same Debian 3.11), copied in.
# No loop mounts: the root and the project disks are made with `mke2fs -d`, read back with
# debugfs. The guest has no network device at all; the kernel and initrd are given to qemu
# directly (-kernel/-initrd). Where /dev/kvm is missing or is PVM (these machines), qemu emulates
# (TCG): boot in 30-75 s, everything inside several times slower.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${SENTINEL_VM_CACHE:-/var/cache/sentinel-vm}
MEM=${SENTINEL_VM_MEM:-2048}
SMP=${SENTINEL_VM_SMP:-2}
RUN_TIMEOUT=${SENTINEL_VM_TIMEOUT:-900}
SUITE=bookworm
# Guest packages: systemd and the boot; what the sandbox needs (bubblewrap, Debian's python3,
# libseccomp2 for the seccomp filter, g++ for the C++ tests); redis-server for the whole stack.
PKGS=systemd,systemd-sysv,udev,dbus,kmod,initramfs-tools,linux-image-amd64,bubblewrap,python3,libseccomp2,g++,redis-server,procps
# The guest's Python packages: the project's dependencies and the test runner.
GUEST_PIP_EXTRA=("pytest>=8" "pytest-timeout>=2.3")
VENV=/opt/sentinel-venv

say() { printf '[cgroup-v2-vm %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf 'cgroup-v2-vm: %s\n' "$*" >&2; exit 2; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, qemu images)"; }

requirements() {
    /usr/bin/python3 - "$HERE/pyproject.toml" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as handle:
    for requirement in tomllib.load(handle)["project"]["dependencies"]:
        print(requirement)
PY
    printf '%s\n' "${GUEST_PIP_EXTRA[@]}"
}

# What the image is made of: the packages, the guest's files, the build steps, the requirements.
key() { { echo "$PKGS $SUITE $VENV"; declare -f write_guest_files build; requirements; } \
    | sha256sum | cut -c1-16; }

mirror() {
    local m
    m=$(awk '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) if($i=="'$SUITE'"){print u; exit}}' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
    if [ -z "$m" ]; then
        m=$(awk '$1=="deb" && $3=="'$SUITE'" {print $2; exit}' \
            /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1)
    fi
    [ -n "$m" ] || die "no $SUITE mirror in this machine's apt sources"
    echo "$m"
}

host_tools() {
    local missing=() tool
    for tool in qemu-system-x86_64:qemu-system-x86 debootstrap:debootstrap mke2fs:e2fsprogs \
                debugfs:e2fsprogs; do
        command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
    done
    [ -e /usr/share/seabios/bios-256k.bin ] || missing+=(seabios)
    /usr/bin/python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "could not install ${missing[*]}"
}

# The guest's one job: mount the project disk, run /mnt/host/.vm/job.sh with its output on the
# serial console, record the exit status, power off (SuccessAction/FailureAction).
write_guest_files() {
    local R=$1
    echo sentinel-vm > "$R/etc/hostname"
    printf '127.0.0.1 localhost\n127.0.1.1 sentinel-vm\n' > "$R/etc/hosts"
    printf '/dev/vda / ext4 rw,noatime,errors=remount-ro 0 1\n' > "$R/etc/fstab"
    mkdir -p "$R/mnt/host"
    printf '%s\n' virtio_pci virtio_blk ext4 >> "$R/etc/initramfs-tools/modules"
    cat > "$R/usr/local/sbin/vm-job" <<'EOF'
#!/bin/bash
mount /dev/vdb /mnt/host || { echo "VMJOB-END rc=125 (no project disk)" > /dev/ttyS0; exit 0; }
V=/mnt/host/.vm
exec > /dev/ttyS0 2>&1
echo "VMJOB-START uptime=$(cut -d' ' -f1 /proc/uptime)"
rc=0
bash "$V/job.sh" || rc=$?
echo "$rc" > "$V/out/rc"
sync
umount /mnt/host
echo "VMJOB-END rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)"
EOF
    chmod 755 "$R/usr/local/sbin/vm-job"
    cat > "$R/etc/systemd/system/vm-job.service" <<'EOF'
[Unit]
Description=Run the host's job from the project disk, then power off
After=local-fs.target
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vm-job
TimeoutStartSec=infinity
[Install]
WantedBy=multi-user.target
EOF
}

build() {
    need_root
    host_tools
    local key dir R t0
    key=$(key); dir=$CACHE/$key; R=$dir.tmp/rootfs
    t0=$(date +%s)
    rm -rf "$dir.tmp"; mkdir -p "$R" "$CACHE/debcache"
    say "building image $key from nothing: debootstrap $SUITE (about 3 minutes)"
    debootstrap --variant=minbase --cache-dir="$CACHE/debcache" --include="$PKGS" \
        "$SUITE" "$R" "$(mirror)" > "$dir.tmp/debootstrap.log" 2>&1 \
        || { tail -20 "$dir.tmp/debootstrap.log" >&2; die "debootstrap failed"; }
    say "debootstrap done in $(( $(date +%s) - t0 )) s; customising"
    write_guest_files "$R"
    chroot "$R" passwd -d root >/dev/null
    chroot "$R" systemctl enable vm-job.service >/dev/null 2>&1
    chroot "$R" systemctl mask serial-getty@ttyS0.service getty@tty1.service redis-server.service \
        apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1
    chroot "$R" update-initramfs -u -k all > "$dir.tmp/initramfs.log" 2>&1
    say "guest Python packages into $VENV (pip on this machine)"
    /usr/bin/python3 -m venv "$R$VENV"
    mapfile -t reqs < <(requirements)
    "$R$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${reqs[@]}" \
        || die "pip install of the guest's packages failed"
    rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* \
           "$R"/usr/share/doc/* "$R"/usr/share/man/* "$R"/usr/share/locale/*
    cp "$R"/boot/vmlinuz-* "$dir.tmp/vmlinuz"
    cp "$R"/boot/initrd.img-* "$dir.tmp/initrd.img"
    mke2fs -q -t ext4 -L root -E root_owner=0:0 -d "$R" "$dir.tmp/base.img" 3G
    rm -rf "$R"
    # older images (another recipe) go; the Debian package cache stays for the next build
    find "$CACHE" -mindepth 1 -maxdepth 1 -type d ! -name debcache ! -name "$key.tmp" \
        -exec rm -rf {} +
    mv "$dir.tmp" "$dir"
    say "image $key built in $(( $(date +%s) - t0 )) s"
}

do_image() {
    local dir; dir=$CACHE/$(key)
    if [ -f "$dir/base.img" ]; then say "image $(basename "$dir") cached"; else build; fi
}

accel() {
    # TCG where /dev/kvm is missing or is PVM (kvm_pvm: runs only special guest kernels)
    if [ -c /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then
        echo "-accel kvm -cpu host"
    else
        echo "-accel tcg,thread=multi -cpu max"
    fi
}

# Only qemu, by its pid, and only if it still runs (never `kill 0`: that is the whole group).
stop_guest() {
    if [ -n "${QPID:-}" ] && kill -0 "$QPID" 2>/dev/null; then kill "$QPID" 2>/dev/null || true; fi
}

do_run() {
    need_root
    local src=$1; shift
    do_image
    local dir t0 rc out=${SENTINEL_VM_OUT:-$src/.vm/out}
    # global, not local: the EXIT trap runs after this function has returned
    dir=$CACHE/$(key); WORK_DIR=$(mktemp -d /var/tmp/sentinel-vm-run.XXXXXX); QPID=
    trap 'stop_guest; rm -rf "$WORK_DIR"' EXIT
    local work=$WORK_DIR
    mkdir -p "$work/proj"
    # the checkout without what the guest does not need (environments, caches, history)
    tar -C "$src" --exclude=./.git --exclude=./.nox --exclude=./.venv-nox --exclude=./.venv \
        --exclude=./var --exclude=__pycache__ --exclude=.mypy_cache --exclude=.ruff_cache \
        --exclude=.pytest_cache --exclude=./.vm -cf - . | tar -C "$work/proj" -xf -
    mkdir -p "$work/proj/.vm/out"
    printf 'set -e\ncd /mnt/host\n%s\n' "$*" > "$work/proj/.vm/job.sh"
    mke2fs -q -t ext4 -L project -E root_owner=0:0 -d "$work/proj" "$work/proj.img" 256M
    : > "$work/console.log"
    t0=$(date +%s)
    say "booting ($(accel | cut -d' ' -f2 | cut -d, -f1))"
    # shellcheck disable=SC2046
    qemu-system-x86_64 -machine q35 $(accel) -smp "$SMP" -m "$MEM" \
        -nodefaults -no-user-config -display none -no-reboot -nic none \
        -serial "file:$work/console.log" \
        -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" \
        -append "console=ttyS0 root=/dev/vda rw quiet loglevel=3 panic=-1 systemd.show_status=false" \
        -drive "file=$dir/base.img,format=raw,if=virtio,snapshot=on,cache=unsafe" \
        -drive "file=$work/proj.img,format=raw,if=virtio,cache=unsafe" &
    QPID=$!
    local qpid=$QPID
    # stream the console (the job's output) while the guest runs, within the time allowed
    tail -n +1 -f --pid="$qpid" "$work/console.log" &
    while kill -0 "$qpid" 2>/dev/null; do
        if [ $(( $(date +%s) - t0 )) -ge "$RUN_TIMEOUT" ]; then
            say "no poweroff within ${RUN_TIMEOUT} s: stopping the guest"; stop_guest; break
        fi
        sleep 1
    done
    wait "$qpid" 2>/dev/null || true
    sleep 0.3
    say "guest off after $(( $(date +%s) - t0 )) s"
    mkdir -p "$out" "$work/back"
    debugfs -R "rdump /.vm/out $work/back" "$work/proj.img" >/dev/null 2>&1 || true
    cp -r "$work/back/out/." "$out/" 2>/dev/null || true
    rc=$(cat "$out/rc" 2>/dev/null || echo 125)
    return "$rc"
}

case "${1:-}" in
    image) need_root; do_image ;;
    run)   shift; [ $# -ge 2 ] || die "usage: $0 run DIR CMD"; do_run "$@" ;;
    key)   key ;;
    *)     sed -n '2,27p' "$0"; exit 2 ;;
esac
