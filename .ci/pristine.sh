# A pristine Debian 12 root for .ci/run (sourced, not run): what a new user's machine has before
# README's first command. debootstrap (minbase) from the mirror the host's apt uses; a tarball of
# debootstrap's output is cached between runs, and nothing but debootstrap writes it. The host's
# packages never leak in: nothing of the host's system is mounted, only /proc.

ci_cache=${SINTER_CI_CACHE:-/var/tmp/sinter-ci}
pristine_root=$ci_cache/root

# The first mirror URI in the host's apt sources (deb822 or one-line form).
apt_mirror() {
  local uri
  uri=$(grep -hoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}')
  [[ -n $uri ]] || uri=$(grep -hoE '^deb +(\[[^]]*\] +)?\S+' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $NF}')
  echo "${uri:-http://deb.debian.org/debian}"
}

# Leaves $pristine_root as debootstrap made it, with SOURCE at /src/sinter and DATA at
# /src/shared/data (the tests read ../shared/data beside the source tree).
make_pristine_root() {  # SOURCE DATA
  local source=$1 data=$2 mirror tarball
  mirror=$(apt_mirror)
  tarball=$ci_cache/bookworm-minbase-$(echo "$mirror" | md5sum | cut -c1-8).tar
  leave_pristine_root
  rm -rf --one-file-system "$pristine_root"
  mkdir -p "$ci_cache"
  if [[ ! -f $tarball ]]; then
    echo "debootstrap --variant=minbase bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$pristine_root" "$mirror" > "$ci_cache/debootstrap.log" 2>&1 ||
      { tail -20 "$ci_cache/debootstrap.log"; return 1; }
    tar -C "$pristine_root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  else
    echo "pristine root from $tarball (debootstrap's output, cached)"
    mkdir -p "$pristine_root" && tar -C "$pristine_root" -xf "$tarball"
  fi
  # Where packages come from: the host's apt sources (config only, as a new machine has them).
  if compgen -G "/etc/apt/sources.list.d/*.sources" > /dev/null; then
    cp /etc/apt/sources.list.d/*.sources "$pristine_root/etc/apt/sources.list.d/"
    : > "$pristine_root/etc/apt/sources.list"
  fi
  cp /etc/resolv.conf "$pristine_root/etc/resolv.conf"
  # The checkout (tracked and untracked files, no build folders) and the test data.
  mkdir -p "$pristine_root/src/sinter" "$pristine_root/src/shared"
  (cd "$source" && git ls-files -z -co --exclude-standard | tar --null -T - -cf -) | tar -C "$pristine_root/src/sinter" -xf -
  cp -rL "$data" "$pristine_root/src/shared/data"
  mount -t proc proc "$pristine_root/proc"
}

leave_pristine_root() {
  if mountpoint -q "$pristine_root/proc" 2>/dev/null; then umount "$pristine_root/proc"; fi
}

# Runs a shell command in the root, in /src/sinter, as root, with a clean environment.
in_pristine_root() {  # COMMAND [VAR=VALUE...]
  local command=$1; shift
  chroot "$pristine_root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@" \
    bash -c "cd /src/sinter && $command"
}

# A command of README.md, marked there by `<!-- ci: NAME -->` before its fenced block.
readme_command() {  # README NAME
  awk -v mark="<!-- ci: $2 -->" '$0 == mark { found = 1; next } found && /^```/ { fence++; next }
    found && fence == 1 { print; exit }' "$1"
}
