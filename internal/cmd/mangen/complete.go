package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/vaultcred/gettoken/internal/optparse"
	"github.com/vaultcred/gettoken/storer"
	"github.com/vaultcred/gettoken/vaultcred"
)

// gettokenNames are the commands that take gettoken's options: httokensh
// takes them before "--" and a command after.
const gettokenNames = "gettoken htgettoken httokensh"

// fileValue reports whether an option's value is a local file or
// directory (completed with file names).
func fileValue(o *optparse.Option) bool { return o.Metavar == "path" || o.Metavar == "file" }

func gettokenOptions() []optparse.Option {
	return optparse.HTGetToken("gettoken", vaultcred.DefaultCAFile(vaultcred.Environ{})).AllOptions()
}

// gettokenBash is the bash completion of gettoken's options.
func gettokenBash() string {
	var words, fileOpts, valueOpts []string
	for _, o := range gettokenOptions() {
		names := []string{o.Long}
		if o.Short != "" {
			names = append(names, o.Short)
		}
		words = append(words, names...)
		switch {
		case fileValue(&o):
			fileOpts = append(fileOpts, names...)
		case o.TakesValue():
			valueOpts = append(valueOpts, names...)
		}
	}
	return fmt.Sprintf(`# bash completion for %[1]s (generated from gettoken's option table)
_gettoken() {
    local cur prev i
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    # httokensh: after "--" come a command and its arguments.
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == -- ]]; then
            if ((i == COMP_CWORD - 1)); then
                COMPREPLY=($(compgen -c -- "$cur"))
            else
                COMPREPLY=($(compgen -f -- "$cur"))
            fi
            return
        fi
    done
    # --option=value: bash splits at "=".
    if [[ $prev == = && COMP_CWORD -ge 2 ]]; then
        prev=${COMP_WORDS[COMP_CWORD-2]}
    elif [[ $cur == = ]]; then
        cur=
    fi
    case $prev in
        %[2]s)
            COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        %[3]s)
            COMPREPLY=()
            return ;;
    esac
    COMPREPLY=($(compgen -W '%[4]s' -- "$cur"))
}
complete -F _gettoken %[1]s
`, gettokenNames, strings.Join(fileOpts, "|"), strings.Join(valueOpts, "|"), strings.Join(words, " "))
}

// zshText escapes an _arguments description.
func zshText(s string) string {
	s = strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`, ":", `\:`, "'", `'\''`).Replace(s)
	return s
}

// gettokenZsh is the zsh completion of gettoken's options.
func gettokenZsh() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#compdef %s\n# zsh completion (generated from gettoken's option table)\n\nlocal -a opts\nopts=(\n", gettokenNames)
	for _, o := range gettokenOptions() {
		desc := zshText(o.Help)
		action := ""
		if o.TakesValue() {
			comp := " "
			if fileValue(&o) {
				comp = "_files"
			}
			action = ":" + zshText(o.Metavar) + ":" + comp
		}
		long := o.Long
		if o.TakesValue() {
			long += "="
		}
		if o.Short != "" {
			short := o.Short
			if o.TakesValue() {
				short += "+"
			}
			fmt.Fprintf(&b, "  '(%s %s)'{%s,%s}'[%s]%s'\n", o.Short, o.Long, short, long, desc, action)
		} else {
			fmt.Fprintf(&b, "  '%s[%s]%s'\n", long, desc, action)
		}
	}
	b.WriteString(")\nif [[ $service == httokensh ]]; then\n  _arguments -s -S $opts '*::command:_normal'\nelse\n  _arguments -s -S $opts\nfi\n")
	return b.String()
}

// storerOptionRE finds the options in the storer's usage text:
// "  -v shows more progress than normal".
var storerOptionRE = regexp.MustCompile(`(?m)^  (-[A-Za-z]) (.+)$`)

// storerOptions returns the storer's options and their descriptions.
func storerOptions() [][2]string {
	var out [][2]string
	for _, m := range storerOptionRE.FindAllStringSubmatch(storer.Usage("condor_vault_storer"), -1) {
		out = append(out, [2]string{m[1], m[2]})
	}
	return out
}

// storerNames are the storer's names.
const storerNames = "condor_vault_storer condor_credential_storer"

func storerBash() string {
	var words []string
	for _, o := range storerOptions() {
		words = append(words, o[0])
	}
	return fmt.Sprintf(`# bash completion for %[1]s (generated from the storer's usage)
_condor_vault_storer() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '%[2]s' -- "$cur"))
    else
        COMPREPLY=()
    fi
}
complete -F _condor_vault_storer %[1]s
`, storerNames, strings.Join(words, " "))
}

func storerZsh() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#compdef %s\n# zsh completion (generated from the storer's usage)\n\n_arguments -s \\\n", storerNames)
	for _, o := range storerOptions() {
		fmt.Fprintf(&b, "  '%s[%s]' \\\n", o[0], zshText(o[1]))
	}
	b.WriteString("  '*:oauth_service (issuer[_role][&handle=..][&scopes=..][&audience=..][&options=..]): '\n")
	return b.String()
}
