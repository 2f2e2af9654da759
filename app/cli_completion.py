"""Shell completion scripts generated from the parser, so they never drift from the verbs."""

from __future__ import annotations

import argparse


def _words(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Each verb (and "" for the top level) with the words that may follow it."""
    result: dict[str, list[str]] = {"": []}
    for action in parser._actions:
        result[""].extend(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                result[""].append(name)
                words = [o for a in sub._actions for o in a.option_strings]
                for inner in sub._actions:
                    if isinstance(inner, argparse._SubParsersAction):
                        words.extend(inner.choices)
                result[name] = words
    return result


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    words = _words(parser)
    if shell == "powershell":
        cases = "\n".join(f"        '{verb}' {{ $words = '{' '.join(w)}' -split ' ' }}"
                          for verb, w in words.items() if verb)
        return ("Register-ArgumentCompleter -Native -CommandName berth -ScriptBlock {\n"
                "    param($wordToComplete, $commandAst, $cursorPosition)\n"
                "    $verb = if ($commandAst.CommandElements.Count -gt 1) { $commandAst.CommandElements[1].Value }\n"
                f"    $words = '{' '.join(words[''])}' -split ' '\n"
                "    switch ($verb) {\n" + cases + "\n    }\n"
                "    $words | Where-Object { $_ -like \"$wordToComplete*\" } |\n"
                "        ForEach-Object { [System.Management.Automation.CompletionResult]::new($_) }\n}\n")
    cases = "\n".join(f"        {verb}) words=\"{' '.join(w)}\" ;;" for verb, w in words.items() if verb)
    body = ("_berth() {\n"
            "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" verb=\"${COMP_WORDS[1]}\" words\n"
            f"    words=\"{' '.join(words[''])}\"\n"
            "    if [ \"$COMP_CWORD\" -gt 1 ]; then\n    case \"$verb\" in\n" + cases + "\n    esac\n    fi\n"
            "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n}\n")
    if shell == "zsh":
        return "autoload -U +X bashcompinit && bashcompinit\n" + body + "complete -F _berth berth\n"
    return body + "complete -F _berth berth\n"
