# cmake --install into a DESTDIR, with prefix /usr and /usr/local, and the
# .deb of cpack: every file in its place, the same tree in the package.
source "$(dirname "$0")/lib.sh"
B=${KPIPE_BIN:?KPIPE_BIN is the build directory}
tools=(kproduce kconsume kwindow kagg kjoin kjq kadmin)
units=(kpipe@.service kpipe-pipeline@.service)
examples=()
for f in "$SRC"/tools/systemd/examples/*; do examples+=("${f##*/}"); done
[ ${#examples[@]} -ge 3 ] || fail "no examples in tools/systemd/examples"
version=$("$B/kagg" --version | sed -n 's/^kagg (kpipe) //p')
[ -n "$version" ] || fail "no version from kagg --version"

# The files an install with PREFIX must produce, relative to the DESTDIR.
expected_files() {  # PREFIX ZSH_DIR
  local p=$1 zsh=$2 t f
  for t in "${tools[@]}"; do
    echo "$p/bin/$t"
    echo "$p/share/bash-completion/completions/$t"
    echo "$p/share/$zsh/_$t"
    echo "$p/share/fish/vendor_completions.d/$t.fish"
  done
  for f in "$SRC"/man/*.1; do echo "$p/share/man/man1/${f##*/}"; done
  echo "$p/share/man/man7/kpipe.7"
  for f in "${units[@]}"; do echo "$p/lib/systemd/system/$f"; done
  for f in "${examples[@]}"; do echo "$p/share/doc/kpipe/examples/systemd/$f"; done
}

# check_tree DESTDIR PREFIX ZSH_DIR
check_tree() {
  local d=$1 p=$2 zsh=$3 t f
  expected_files "$p" "$zsh" | sort > "$T/want"
  (cd "$d" && find . ! -type d | sed 's/^\.//' | sort) > "$T/got"
  diff -u "$T/want" "$T/got" || fail "$d: the installed files differ from the list (- wanted, + installed)"
  for t in "${tools[@]}"; do
    [ -x "$d$p/bin/$t" ] || fail "$d$p/bin/$t is not executable"
    run 0 "$d$p/bin/$t" --version
    expect_grep "$T/out" "^$t \(kpipe\) $version\$"
    cmp "$SRC/completions/bash/$t" "$d$p/share/bash-completion/completions/$t" || fail "bash completion of $t"
    cmp "$SRC/completions/zsh/_$t" "$d$p/share/$zsh/_$t" || fail "zsh completion of $t"
    cmp "$SRC/completions/fish/$t.fish" "$d$p/share/fish/vendor_completions.d/$t.fish" || fail "fish completion of $t"
  done
  for f in "$d$p"/share/man/man1/*.1 "$d$p/share/man/man7/kpipe.7"; do
    cmp "$SRC/man/${f##*/}" "$f" || fail "$f differs from man/${f##*/}"
    # man(1) formats it (groff underneath) without a warning.
    run 0 env MANWIDTH=80 man -l "$f"
    expect_grep "$T/out" "^NAME"
    expect_no_grep "$T/err" "warning|error"
  done
  for f in "${examples[@]}"; do
    cmp "$SRC/tools/systemd/examples/$f" "$d$p/share/doc/kpipe/examples/systemd/$f" || fail "example $f"
  done
  # The units name this prefix's programs and nothing is left to substitute.
  for f in "${units[@]}"; do
    f=$d$p/lib/systemd/system/$f
    expect_no_grep "$f" "@[A-Z_]+@"
    expect_grep "$f" "$p/share/doc/kpipe/examples/systemd"
  done
  expect_grep "$d$p/lib/systemd/system/kpipe@.service" "^ExecStart=/usr/bin/env $p/bin/\\$\\{KPIPE_TOOL\\} "
  expect_grep "$d$p/lib/systemd/system/kpipe-pipeline@.service" "^Environment=PATH=$p/bin(:|\$)"
}

# --strip, as the .deb is built.
run 0 env DESTDIR="$T/usr" cmake --install "$B" --prefix /usr --strip
check_tree "$T/usr" /usr zsh/vendor-completions
run 0 env DESTDIR="$T/local" cmake --install "$B" --prefix /usr/local
check_tree "$T/local" /usr/local zsh/site-functions

# The .deb: cpack brings the build up to date first (as `make install` would).
arch=$(dpkg --print-architecture)
run 0 cpack -G DEB --config "$B/CPackConfig.cmake" -B "$T/pkg"
deb=$T/pkg/kpipe_${version}_$arch.deb
[ -f "$deb" ] || { ls "$T/pkg" >&2; fail "no $deb"; }
# Its files are those of the /usr install, with the same modes (owned by
# root) and byte for byte the same contents.
dpkg-deb -c "$deb" > "$T/deb.list"
awk '$1 !~ /^d/ {print $1, $6}' "$T/deb.list" | sed 's# \./# /#' | sort -k2 > "$T/deb.files"
(cd "$T/usr" && find . ! -type d -printf '%M %p\n' | sed 's# \./# /#' | sort -k2) > "$T/usr.files"
diff -u "$T/usr.files" "$T/deb.files" || fail "the .deb's files differ from the /usr install (- install, + .deb)"
expect_grep "$T/deb.files" "^-rwxr-xr-x /usr/bin/kagg\$"
# Stripped: no symbol table.
readelf -S "$T/usr/usr/bin/kagg" > "$T/sections"
expect_grep "$T/sections" "\.text"
expect_no_grep "$T/sections" "\.symtab"
expect_grep "$T/deb.files" "^-rw-r--r-- /usr/lib/systemd/system/kpipe@\.service\$"
expect_eq "files of the .deb not owned by root" "$(awk '$2 != "root/root"' "$T/deb.list")" ""
dpkg-deb -x "$deb" "$T/deb"
diff -r "$T/usr" "$T/deb" || fail "the .deb's contents differ from the /usr install"
# The control fields.
for field in Package Version Architecture Maintainer Section Depends Description; do
  [ -n "$(dpkg-deb -f "$deb" "$field")" ] || fail "the .deb has no $field"
done
expect_eq "Package" "$(dpkg-deb -f "$deb" Package)" kpipe
expect_eq "Version" "$(dpkg-deb -f "$deb" Version)" "$version"
expect_eq "Architecture" "$(dpkg-deb -f "$deb" Architecture)" "$arch"
# Depends comes from dpkg-shlibdeps, which reads the binaries' libraries.
dpkg-deb -f "$deb" Depends > "$T/depends"
expect_grep "$T/depends" "(^|, )librdkafka1( \(>= [^)]+\))?(,|\$)"
expect_grep "$T/depends" "(^|, )libc6 \(>= "
echo ok
