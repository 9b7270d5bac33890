# bash completion for globus-fuse.
# The candidates come from `globus-fuse __complete WORDS...` (cli/complete.h), which knows the
# commands, their options, the config keys and the collections of running mounts; this script
# only quotes them for the command line.
_globus_fuse() {
  local cur=${COMP_WORDS[COMP_CWORD]} kind c q
  local IFS=$'\n'
  local -a out
  out=($(command globus-fuse __complete "${COMP_WORDS[@]:0:COMP_CWORD+1}" 2>/dev/null))
  kind=${out[0]-}
  COMPREPLY=()
  case $kind in
    files*) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
    dirs*) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")); return 0 ;;
  esac
  for c in "${out[@]:1}"; do
    case $cur in
      \'*) COMPREPLY+=("'${c//\'/\'\\\'\'}'") ;;
      \"*) COMPREPLY+=("\"$c\"") ;;
      *) printf -v q '%q' "$c"; COMPREPLY+=("$q") ;;
    esac
  done
  if [[ $kind == *nospace* ]]; then compopt -o nospace 2>/dev/null; fi
  return 0
}
complete -F _globus_fuse globus-fuse
