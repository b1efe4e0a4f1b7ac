# Each flag is defined once (the tool's flag table); --help, the man page's
# OPTIONS and the completions must list exactly those flags.
source "$(dirname "$0")/lib.sh"
for tool in kproduce kconsume kwindow kagg kjoin kjq kadmin; do
  "$tool" --generate=flags | sort -u > "$T/table"
  [ -s "$T/table" ] || fail "$tool: empty flag table"
  # --help: the option column of each line.
  "$tool" --help | sed -n '/^Options:/,/^$/p' | grep -oE '^ +(-[A-Za-z0-9], )?--?[A-Za-z0-9-]+' \
    | tr ',' '\n' | tr -d ' ' | grep . | sort -u > "$T/help"
  diff -u "$T/table" "$T/help" || fail "$tool --help differs from its flag table"
  # man page: tag lines after .TP in the OPTIONS section.
  man=$SRC/man/$tool.1
  [ -f "$man" ] || fail "missing $man"
  awk '/^\.SH/{opt=($0 ~ /OPTIONS/)} opt && prev ~ /^\.TP/ {print} {prev=$0}' "$man" \
    | sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' | grep -oE '(^|[^A-Za-z0-9-])--?[A-Za-z][A-Za-z0-9-]*' \
    | grep -oE -- '--?[A-Za-z][A-Za-z0-9-]*' | sort -u > "$T/man"
  diff -u "$T/table" "$T/man" || fail "man/$tool.1 OPTIONS differs from the flag table (- table, + man)"
  # completions: every flag appears in each shell's file.
  for f in "$SRC/completions/bash/$tool" "$SRC/completions/zsh/_$tool" "$SRC/completions/fish/$tool.fish"; do
    while read -r flag; do
      case $f in
        *.fish)
          if [[ $flag == --* ]]; then pat=" -l ${flag#--}( |$)"; else pat=" -s ${flag#-}( |$)"; fi ;;
        *) pat="(^|[^A-Za-z0-9-])${flag}([^A-Za-z0-9-]|$)" ;;
      esac
      grep -qE -- "$pat" "$f" || fail "$f lacks $flag"
    done < "$T/table"
  done
done
echo ok
