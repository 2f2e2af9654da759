"""`--format`'s Go-template subset, the completion scripts and docker's usage errors."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from app import cli
from app.cli_completion import script
from app.cli_format import FormatError, output, render, table

pytestmark = pytest.mark.unit

INSPECTED = {"Id": "abc", "Name": "/web", "State": {"Status": "running", "Running": True, "Pid": 42},
             "Config": {"Cmd": ["sleep", "300"], "Labels": {"tier": "front", "a.b": "x"}},
             "Mounts": [], "HostConfig": {"Memory": 0}}


@pytest.mark.parametrize(("template", "expected"), [
    ("{{.State.Status}}", "running"),
    ("{{.Name}} {{.State.Pid}}", "/web 42"),
    ("{{.State.Running}}", "true"),
    ("{{json .Config.Cmd}}", '["sleep","300"]'),
    ("{{json .State}}", '{"Status":"running","Running":true,"Pid":42}'),
    ("{{.Config.Cmd}}", "[sleep 300]"),
    ("{{.Config.Labels}}", "map[a.b:x tier:front]"),
    ('{{index .Config.Labels "a.b"}}', "x"),
    ("{{join .Config.Cmd \",\"}}", "sleep,300"),
    ("{{len .Mounts}}", "0"),
    ("{{upper .State.Status}}", "RUNNING"),
    ("{{.Missing}}", "<no value>"),
    ("{{.Name}}\\t{{.Id}}", "/web\tabc"),
    ("{{ .Name }}", "/web"),
    ("{{range .Config.Cmd}}[{{.}}]{{end}}", "[sleep][300]"),
    ("{{range .Config.Labels}}{{.}};{{end}}", "x;front;"),  # a map's values in key order
    ("{{range .Mounts}}{{.Source}}{{else}}none{{end}}", "none"),
    ("{{if .State.Running}}up {{.State.Pid}}{{else}}down{{end}}", "up 42"),
    ("{{if .HostConfig.Memory}}limited{{else}}unlimited{{end}}", "unlimited"),
])
def test_templates_as_go_prints_them(template: str, expected: str) -> None:
    assert render(template, INSPECTED) == expected


def test_an_unsupported_action_is_an_error_naming_it() -> None:
    with pytest.raises(FormatError, match=r"unsupported action \{\{printf \"%s\" .Name\}\}"):
        render('{{printf "%s" .Name}}', INSPECTED)
    with pytest.raises(FormatError, match="has no"):
        render("{{range .Mounts}}{{.Source}}", INSPECTED)


ROWS = [{"ID": "0123456789ab", "Names": "web", "Status": "Up 2 minutes"},
        {"ID": "ba9876543210", "Names": "a-much-longer-name", "Status": "Exited (0) 1 second ago"}]
HEADERS = {"ID": "CONTAINER ID", "Names": "NAMES", "Status": "STATUS"}


def test_listing_formats() -> None:
    assert output(None, ROWS, ["ID", "Names"], HEADERS).splitlines() == [
        "CONTAINER ID   NAMES",
        "0123456789ab   web",
        "ba9876543210   a-much-longer-name",
    ]
    assert output("table {{.Names}}\\t{{.Status}}", ROWS, ["ID"], HEADERS).splitlines()[0] == (
        "NAMES                STATUS")
    assert output("{{.Names}}", ROWS, ["ID"], HEADERS) == "web\na-much-longer-name"
    assert output("json", ROWS[:1], ["ID"], HEADERS) == (
        '{"ID":"0123456789ab","Names":"web","Status":"Up 2 minutes"}')
    assert output(None, ROWS, ["ID"], HEADERS, quiet_field="ID", quiet=True) == "0123456789ab\nba9876543210"


def test_table_pads_to_the_widest_cell_plus_three_with_a_minimum_of_ten() -> None:
    assert table(["A", "B"], [["x", "y"]]) == "A         B\nx         y"


def test_an_unknown_flag_exits_125_with_dockers_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.parse(["ps", "--bogus"])
    assert done.value.code == 125
    assert capsys.readouterr().err == ("unknown flag: --bogus\n\nUsage:  berth ps [OPTIONS]\n\n"
                                       "Run 'berth ps --help' for more information\n")
    with pytest.raises(SystemExit):
        cli.parse(["run", "-Z", "busybox"])
    assert capsys.readouterr().err.startswith("unknown shorthand flag: 'Z' in -Z\n\n"
                                              "Usage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]")


def test_an_unknown_verb_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.parse(["frobnicate"])
    assert done.value.code == 1
    assert capsys.readouterr().err.startswith("berth: unknown command: berth frobnicate\n")


def test_the_listing_parser_is_the_full_one_for_its_verbs() -> None:
    for words in (["ps", "-a", "--format", "json"], ["-H", "unix:///x", "images", "-q", "busybox"]):
        assert vars(cli.parse(words)) == vars(cli.build_parser().parse_args(words))


def _bash_complete(line: str) -> list[str]:
    """What bash offers for `line` with berth's completion script loaded."""
    words = line.split(" ")
    program = (script(cli.build_parser(), "bash")
               + f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
               + "_berth; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_bash_completion_offers_verbs_then_their_flags() -> None:
    assert {"pull", "ps", "push"} <= set(_bash_complete("berth p"))
    assert "--no-stream" in _bash_complete("berth stats --no")
    assert set(_bash_complete("berth volume ")) >= {"ls", "create", "rm", "inspect", "prune"}


@pytest.mark.parametrize("shell", ["zsh", "powershell"])
def test_other_shells_scripts_parse(shell: str) -> None:
    text = script(cli.build_parser(), shell)
    assert "berth" in text and "pull" in text
    if shell == "zsh":
        assert text.startswith("autoload -U +X bashcompinit && bashcompinit")
        if shutil.which("zsh"):
            assert subprocess.run(["zsh", "-n", "-c", text], capture_output=True).returncode == 0
    else:
        assert text.startswith("Register-ArgumentCompleter -Native -CommandName berth")


def test_completion_verb_prints_the_script() -> None:
    done = subprocess.run([sys.executable, "-m", "app.cli", "completion", "bash"], capture_output=True, text=True)
    assert done.returncode == 0 and "complete -F _berth berth" in done.stdout
