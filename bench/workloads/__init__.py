"""The workloads, one module each, in the order the table shows them."""

from __future__ import annotations

from bench.workloads.base import Workload
from bench.workloads.berth_cli import BerthCli
from bench.workloads.build import BuildAndRebuild
from bench.workloads.create_start import CreateAndStart
from bench.workloads.desktop import DesktopFigures
from bench.workloads.emulation import EmulationCost
from bench.workloads.exec import ExecLatency
from bench.workloads.list_all import ListAll
from bench.workloads.logs import LogsThroughput
from bench.workloads.pull import PullThroughput
from bench.workloads.run_rm import RunRm
from bench.workloads.scale import Scale, ScaleNetworks
from bench.workloads.stats_stream import StatsStreaming


def all_workloads() -> list[Workload]:
    return [RunRm(), CreateAndStart(), ListAll(), ExecLatency(), LogsThroughput(), PullThroughput(),
            BuildAndRebuild(), StatsStreaming(), DesktopFigures(), BerthCli(), EmulationCost(), Scale(),
            ScaleNetworks()]
