"""The collectives of a compiled program, read from its HLO text: kind, bytes, group, repeats.

`collectives(compiled.as_text(), num_devices)` lists every all-reduce, all-gather, reduce-scatter,
all-to-all and collective-permute (synchronous or the `-start` half of an async pair) with the
bytes of its result per device, the size of the device group it runs over, and how many times
one execution of the program runs it: an instruction inside a `while` body counts its loop's
trip count (read from the loop condition's constant bound), nested loops multiply. Both branches
of a conditional count once (the GAN step's branch is the one that holds collectives).

`ring_seconds` turns one collective into time on a ring of `group` devices at a bandwidth per
device, the standard bandwidth-optimal cost (all-reduce moves 2 (g - 1) / g of its bytes).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import defaultdict

KINDS = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-permute")
DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "f8e4m3fn": 1, "f8e5m2": 1, "s16": 2, "u16": 2,
               "f16": 2, "bf16": 2, "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8,
               "c64": 8, "c128": 16}
_ARRAY = re.compile(r"\b(" + "|".join(DTYPE_BYTES) + r")\[([0-9,]*)\]")
_COMPUTATION = re.compile(r"^(?:ENTRY )?(%[\w.\-]+) ")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%[\w.\-]+ = (.*?) ([a-z][a-z0-9\-]*)\(")
_CALLED = re.compile(r"\b(?:calls|body|condition|to_apply|true_computation|false_computation)="
                     r"(%[\w.\-]+)|branch_computations=\{([^}]*)\}")
_OP_NAME = re.compile(r'op_name="([^"]*)"')


@dataclasses.dataclass(frozen=True)
class Collective:
    kind: str  # one of KINDS
    bytes: int  # the result's bytes per device (an all-gather's gathered output)
    group: int  # devices in each replica group
    count: int  # executions per run of the program (loop trip counts multiplied)
    op_name: str  # JAX's name for the op that produced it (from the HLO metadata)


def array_bytes(shape_text: str) -> list[int]:
    """Bytes of each array in an HLO shape ('f32[64,32]{1,0}' or a tuple of them)."""
    return [DTYPE_BYTES[dtype] * math.prod(int(d) for d in dims.split(",") if d)
            for dtype, dims in _ARRAY.findall(shape_text)]


def group_size(line: str, num_devices: int) -> int:
    """Devices per replica group of a collective instruction, in any of XLA's three notations:
    explicit {{0,1},{2,3}}, iota [groups,size]<=[...], or mesh['a'=4,'b'=2] {'a'}."""
    mesh = re.search(r"replica_groups=mesh\[([^\]]*)\]\s*\{([^}]*)\}", line)
    if mesh:
        sizes = {k.strip("'"): int(v) for k, v in re.findall(r"('[^']*'|\w+)=(\d+)", mesh.group(1))}
        return math.prod(sizes[a.strip().strip("'")] for a in mesh.group(2).split(",") if a.strip())
    iota = re.search(r"replica_groups=\[(\d+),(\d+)\]<=", line)
    if iota:
        return int(iota.group(2))
    explicit = re.search(r"replica_groups=\{\{([^}]*)\}", line)
    if explicit:
        return len(explicit.group(1).split(","))
    pairs = re.search(r"source_target_pairs=\{([^}]*(?:\}[^}]*)*?)\}\s*[,}]", line)
    if pairs:  # a permute: each device sends its whole buffer once
        return 2
    return num_devices  # replica_groups={} : all devices


def _split_computations(hlo: str) -> tuple[dict[str, list[str]], str]:
    computations: dict[str, list[str]] = {}
    entry, current = "", None
    for line in hlo.splitlines():
        head = _COMPUTATION.match(line)
        if head and line.rstrip().endswith("{"):
            current = head.group(1)
            computations[current] = []
            if line.startswith("ENTRY"):
                entry = current
        elif current is not None and line.startswith("}"):
            current = None
        elif current is not None:
            computations[current].append(line)
    return computations, entry


def _trip_count(condition: list[str]) -> int:
    """A scan's loop condition compares its counter with a constant: the largest integer
    constant in the condition is the trip count (1 when none is found)."""
    text = "\n".join(condition)
    bounds = [int(v) for v in re.findall(r"s(?:32|64)\[\](?:\{[^}]*\})? constant\((\d+)\)", text)]
    return max(bounds, default=1)


def _call_edges(computations: dict[str, list[str]]) -> dict[str, list[tuple[str, int]]]:
    """caller -> [(callee, runs of the callee per run of the caller)]."""
    edges: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for name, lines in computations.items():
        for line in lines:
            trips = 1
            if re.search(r" while\(", line):
                cond = re.search(r"condition=(%[\w.\-]+)", line)
                trips = _trip_count(computations.get(cond.group(1), [])) if cond else 1
            for single, branches in _CALLED.findall(line):
                for callee in ([single] if single else re.findall(r"%[\w.\-]+", branches)):
                    edges[name].append((callee, trips if f"body={callee}" in line else 1))
    return edges


def _multipliers(computations: dict[str, list[str]], entry: str) -> dict[str, int]:
    """How many times one run of the entry computation runs each computation (callers are
    settled before their callees: a reverse post-order of the call graph)."""
    edges = _call_edges(computations)
    order, seen = [], set()

    def visit(name: str) -> None:  # iterative DFS: HLO call graphs can be deep
        stack = [(name, iter(edges.get(name, [])))]
        seen.add(name)
        while stack:
            node, children = stack[-1]
            for child, _ in children:
                if child not in seen:
                    seen.add(child)
                    stack.append((child, iter(edges.get(child, []))))
                    break
            else:
                order.append(node)
                stack.pop()

    visit(entry)
    mult: dict[str, int] = defaultdict(int)
    mult[entry] = 1
    for name in reversed(order):
        for callee, factor in edges.get(name, []):
            mult[callee] += mult[name] * factor
    return mult


def collectives(hlo: str, num_devices: int) -> list[Collective]:
    """Every collective of the compiled HLO module text, with its executions per run."""
    computations, entry = _split_computations(hlo)
    mult = _multipliers(computations, entry)
    found = []
    for name, lines in computations.items():
        for line in lines:
            inst = _INSTRUCTION.match(line)
            if not inst:
                continue
            shape, opcode = inst.groups()
            kind = opcode.removesuffix("-start")
            if kind not in KINDS or opcode.endswith("-done"):
                continue
            sizes = array_bytes(shape)
            if opcode.endswith("-start") and kind in ("all-gather", "collective-permute"):
                sizes = sizes[len(sizes) // 2:]  # async tuple: (operands..., results...)
            op = _OP_NAME.search(line)
            found.append(Collective(kind, sum(sizes), group_size(line, num_devices),
                                    max(mult.get(name, 0), 1), op.group(1) if op else ""))
    return found


def ring_seconds(c: Collective, bandwidth: float) -> float:
    """Seconds for one execution of `c` on a bandwidth-optimal ring at `bandwidth` bytes/s per
    device: all-reduce 2 (g-1)/g B, all-gather and all-to-all (g-1)/g B (B: the gathered
    output), reduce-scatter (g-1) B (B: the scattered output), a permute B."""
    g = max(c.group, 1)
    if g == 1:
        return 0.0
    factor = {"all-reduce": 2 * (g - 1) / g, "all-gather": (g - 1) / g,
              "all-to-all": (g - 1) / g, "reduce-scatter": float(g - 1),
              "collective-permute": 1.0}[c.kind]
    return factor * c.bytes / bandwidth


def bytes_by_kind(found: list[Collective]) -> dict[str, int]:
    """Bytes per device per run of the program, by kind (each collective times its count)."""
    total = {kind: 0 for kind in KINDS}
    for c in found:
        total[c.kind] += c.bytes * c.count
    return total
