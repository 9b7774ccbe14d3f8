"""Collectives read from HLO text: bytes, group sizes in XLA's three notations, loop repeats;
the scaling estimate built on them."""

import dataclasses

import pytest

from sscodec.train import hlo_collectives as h, scaling

HLO = """HloModule jit_step, entry_computation_layout={()->f32[]}

%add (a: f32[], b: f32[]) -> f32[] {
  %a = f32[] parameter(0)
  %b = f32[] parameter(1)
  ROOT %sum = f32[] add(%a, %b)
}

%cond (p: (s32[], f32[64,32])) -> pred[] {
  %p = (s32[], f32[64,32]) parameter(0)
  %i = s32[] get-tuple-element(%p), index=0
  %bound = s32[]{:T(128)} constant(8)
  ROOT %lt = pred[] compare(%i, %bound), direction=LT
}

%gather_fusion (x: f32[8,32]) -> f32[64,32] {
  %x = f32[8,32] parameter(0)
  ROOT %ag = f32[64,32]{1,0:T(8,128)} all-gather(%x), channel_id=2, replica_groups=mesh['axis_0'=8,'axis_1'=1] {'axis_0'}, dimensions={0}, metadata={op_name="jit(step)/quantizer/while/body/reshape"}
}

%body (p: (s32[], f32[64,32])) -> (s32[], f32[64,32]) {
  %p = (s32[], f32[64,32]) parameter(0)
  %x = f32[8,32] constant({...})
  %g = f32[64,32] fusion(%x), kind=kLoop, calls=%gather_fusion
  %r = (f32[64]{0}, f32[64,32]{1,0}) all-reduce(%g, %g), channel_id=3, replica_groups=[1,8]<=[8], to_apply=%add
  %i = s32[] get-tuple-element(%p), index=0
  ROOT %t = (s32[], f32[64,32]) tuple(%i, %g)
}

ENTRY %main (w: bf16[1024,256]) -> f32[] {
  %w = bf16[1024,256]{1,0} parameter(0)
  %grads = bf16[1024,256]{1,0} all-reduce(%w), channel_id=1, replica_groups={{0,1,2,3},{4,5,6,7}}, to_apply=%add, metadata={op_name="jit(step)/transpose/reduce_sum"}
  %rs = f32[128]{0} reduce-scatter(%w), channel_id=4, replica_groups={}, dimensions={0}, to_apply=%add
  %init = (s32[], f32[64,32]) tuple()
  %loop = (s32[], f32[64,32]) while(%init), condition=%cond, body=%body
  %ars = f32[16]{0} all-reduce-start(%w), channel_id=5, replica_groups=[2,4]<=[8], to_apply=%add
  %ard = f32[16]{0} all-reduce-done(%ars)
  ROOT %out = f32[] constant(0)
}
"""


def test_collectives_bytes_groups_and_loop_repeats():
    found = {(c.kind, c.bytes): c for c in h.collectives(HLO, num_devices=8)}
    assert len(found) == 5  # the -done half of the async pair is not counted again
    grads = found[("all-reduce", 1024 * 256 * 2)]
    assert (grads.group, grads.count, grads.op_name) == (4, 1, "jit(step)/transpose/reduce_sum")
    gather = found[("all-gather", 64 * 32 * 4)]  # in a fusion called from an 8-trip loop body
    assert (gather.group, gather.count) == (8, 8)
    stats = found[("all-reduce", 64 * 4 + 64 * 32 * 4)]  # a tuple all-reduce: its arrays summed
    assert (stats.group, stats.count) == (8, 8)
    assert found[("reduce-scatter", 128 * 4)].group == 8  # {} : all devices
    assert found[("all-reduce", 16 * 4)].group == 4  # async start, iota groups [2,4]
    total = h.bytes_by_kind(list(found.values()))
    assert total["all-gather"] == 8 * 64 * 32 * 4
    assert total["all-reduce"] == 1024 * 256 * 2 + 8 * (64 * 4 + 64 * 32 * 4) + 16 * 4


def test_ring_time_and_step_estimate():
    allreduce = h.Collective("all-reduce", 8_000_000, 8, 1, "")
    assert h.ring_seconds(allreduce, 1e9) == pytest.approx(2 * 7 / 8 * 8e-3)
    assert h.ring_seconds(h.Collective("all-gather", 8_000_000, 8, 1, ""), 1e9) == \
        pytest.approx(7 / 8 * 8e-3)
    assert h.ring_seconds(h.Collective("all-reduce", 10, 1, 1, ""), 1e9) == 0.0
    chip = scaling.CHIPS["v5e"]
    report = {"chips": 512, "num_slices": 2, "flops_per_step_per_chip": 197e12 * 0.01}
    grads = h.Collective("all-reduce", 34_000_000, 512, 1, "")
    est = scaling.estimate(report, [grads], chip)
    assert est["compute_s"] == pytest.approx(0.01)
    # In the slice: a 256-chip ring; across the 2 slices: 1/256 of the bytes over DCN.
    assert est["ici_s"] == pytest.approx(2 * 255 / 256 * 34e6 / chip.ici_allreduce_bytes_per_s)
    assert est["dcn_s"] == pytest.approx(2 * 1 / 2 * (34e6 // 256) / chip.dcn_bytes_per_s)
    single = scaling.estimate({**report, "num_slices": 1, "chips": 256},
                              [dataclasses.replace(grads, group=256)], chip)
    assert single["dcn_s"] == 0.0
    points = scaling.with_efficiency([{**single, "chips": 8}, {**est, "chips": 512}])
    assert points[0]["efficiency"] == 1.0
    assert points[1]["efficiency"] == pytest.approx(single["step_s"] / est["step_s"])


def test_extrapolation_keeps_the_per_chip_program_and_widens_all_chip_groups():
    point = {"topology": "v5e:2x4", "num_slices": 1, "chips": 8, "global_batch": 16,
             "mesh": {"data": 8, "fsdp": 1}, "flops_per_step_per_chip": 1e12,
             "collectives": [dataclasses.asdict(h.Collective("all-reduce", 1000, 8, 1, "grads")),
                             dataclasses.asdict(h.Collective("all-gather", 10, 2, 3, "fsdp"))]}
    far = scaling.extrapolate(point, "v5e:16x16", 1024, num_slices=4)
    assert (far["chips"], far["global_batch"], far["mesh"]["data"]) == (1024, 2048, 1024)
    assert [c["group"] for c in far["collectives"]] == [1024, 2]
    assert far["flops_per_step_per_chip"] == 1e12 and far["dcn_s"] > 0
    assert far["extrapolated_from"] == "v5e:2x4 x 1"


def test_min_batch_per_chip_for_a_communication_share():
    point = {"global_batch": 16, "chips": 8, "compute_s": 0.002, "ici_s": 0.001, "dcn_s": 0.0}
    # compute 1 ms per example, communication 1 ms: 9 examples make it 10% of the step
    assert scaling.min_batch_per_chip(point) == 9
    assert scaling.min_batch_per_chip({**point, "ici_s": 0.0}) == 1
