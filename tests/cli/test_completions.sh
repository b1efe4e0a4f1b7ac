# completions/ is generated from the flag tables; fail when it is stale.
source "$(dirname "$0")/lib.sh"
for tool in kproduce kconsume kwindow kagg kjoin kjq kadmin; do
  "$tool" --generate=bash | diff -u "$SRC/completions/bash/$tool" - || fail "completions/bash/$tool is stale: run scripts/gen-completions.sh"
  "$tool" --generate=zsh | diff -u "$SRC/completions/zsh/_$tool" - || fail "completions/zsh/_$tool is stale"
  "$tool" --generate=fish | diff -u "$SRC/completions/fish/$tool.fish" - || fail "completions/fish/$tool.fish is stale"
  bash -n "$SRC/completions/bash/$tool" || fail "bash completion syntax"
  # The bash completion offers the tool's flags.
  ( source "$SRC/completions/bash/$tool"
    COMP_WORDS=("$tool" --hel); COMP_CWORD=1; "_$tool"
    [ "${COMPREPLY[*]}" == "--help" ] ) || fail "bash completion of --he for $tool"
done
echo ok
