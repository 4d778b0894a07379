"""Hand-crafted backbones built from block cells: published costs, depth, shapes, NAT versions, errors."""

import pytest
import torch
from torch import nn

from nat.arch import SPACES, Cell, Genotype, validate, zoo
from nat.costs import count_params
from nat.errors import GenotypeError, NatError
from nat.nn.backbones import (BACKBONE_OPS, BACKBONES, BOTTLENECK, FAMILIES, BlockCell, Shape, Shortcut,
                              backbone_cost, backbone_names, build_backbone, is_backbone_name, resolve_backbone)
from nat.nn.backbones.cell import edge_layer

NAMES = backbone_names()
NAT_NAMES = [n for n in NAMES if n.startswith("NAT_")]
SIZE = {"cifar10": 32, "imagenet": 224}


# Small layers spend longer synchronising threads than computing, badly so on a busy machine.
pytestmark = pytest.mark.usefixtures("one_thread")


def _small(name: str, dataset: str | None = None, **kw) -> nn.Module:
    key, genotype, default = resolve_backbone(name)
    return build_backbone(key, genotype, dataset=dataset or default, width_mult=1 / 8, **kw)


def _layouts_of(names):
    return [(n, d) for n in names for d in BACKBONES[resolve_backbone(n).key].layouts]


# -- names ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, key, block, dataset", [
    ("VGG16", "vgg16", "VGG", "cifar10"), ("nat_vgg16", "vgg16", "NAT_VGG", "cifar10"),
    ("ResNet20", "resnet20", "ResBlock", "cifar10"), ("NAT-ResNet56", "resnet56", "NAT_ResBlock", "cifar10"),
    ("MobileNetV2", "mobilenetv2", "MobileNetV2", "cifar10"),
    ("NAT_MobileNetV2", "mobilenetv2", "NAT_MobileNetV2", "cifar10"),
    ("ResNet18", "resnet18", "ResBlock", "imagenet"), ("NAT_ResNet18", "resnet18", "NAT_ResBlock", "imagenet"),
])
def test_names_resolve_to_the_zoo_blocks(name, key, block, dataset):
    assert resolve_backbone(name) == (key, zoo.get(block).genotype, dataset)


def test_backbone_names_win_over_the_zoo_cells_of_the_same_name():
    # The zoo's MobileNetV2 is a cell; as a backbone name it is the network built from that cell.
    assert is_backbone_name("MobileNetV2") and "MobileNetV2" in zoo.names()
    assert resolve_backbone("MobileNetV2").genotype == zoo.get("MobileNetV2").genotype
    assert not is_backbone_name("VGG") and not is_backbone_name("DARTS")


def test_resnet50_is_built_from_the_bottleneck_and_has_no_nat_version():
    assert resolve_backbone("ResNet50") == ("resnet50", BOTTLENECK, "imagenet")
    assert "NAT_ResNet50" not in NAMES
    with pytest.raises(NatError, match="no NAT version of ResNet50 is published"):
        resolve_backbone("NAT_ResNet50")


def test_the_bottleneck_is_a_loose_end_cell():
    validate(BOTTLENECK, "loose-end")
    for cell in BOTTLENECK.cells().values():
        assert Cell(cell.edges) == cell  # its concat [5] is what the loose ends give


@pytest.mark.parametrize("call, message", [
    (lambda: resolve_backbone("ResNet34"), "'ResNet34' is not a backbone"),
    (lambda: build_backbone("resnet34", BOTTLENECK), "unknown backbone 'resnet34'"),
    (lambda: build_backbone("resnet20", zoo.get("ResBlock").genotype, dataset="imagenet"),
     "ResNet20 has no imagenet layout"),
    (lambda: build_backbone("resnet20", zoo.get("ResBlock").genotype, width_mult=0), "width_mult"),
])
def test_bad_names_and_options_are_errors(call, message):
    with pytest.raises(NatError, match=message):
        call()


# -- the ops a block can hold -----------------------------------------------------------------------
def test_blocks_take_exactly_the_loose_end_candidate_ops():
    assert set(BACKBONE_OPS) == set(SPACES["loose-end"].ops)


@pytest.mark.parametrize("op", [op for op in BACKBONE_OPS if op != "null"])
@pytest.mark.parametrize("src, dst", [(Shape(4, 1), Shape(4, 1)), (Shape(4, 1), Shape(8, 2)),
                                      (Shape(3, 1), Shape(8, 4)), (Shape(8, 2), Shape(4, 2))])
def test_every_op_maps_any_node_shape_onto_any_coarser_one(op, src, dst):
    layer = edge_layer(op, src, dst)
    for n in (16, 13):  # network input sizes; odd ones too, every op must give ceil(n / scale)
        x = torch.randn(2, src.channels, -(-n // src.scale), -(-n // src.scale))
        assert layer(x).shape == (2, dst.channels, -(-n // dst.scale), -(-n // dst.scale))


def test_a_skip_onto_a_coarser_wider_node_is_option_a():
    x = torch.randn(2, 3, 8, 8)
    layer = edge_layer("skip_connect", Shape(3, 1), Shape(5, 2))
    assert isinstance(layer, Shortcut) and count_params(layer) == 0
    out = layer(x)
    assert torch.equal(out[:, :3], x[:, :, ::2, ::2]) and not out[:, 3:].any()


def test_a_skip_onto_a_narrower_node_is_a_counted_projection():
    layer = edge_layer("skip_connect", Shape(96, 1), Shape(16, 2))
    assert count_params(layer) == 96 * 16 + 2 * 16  # 1x1 conv and BatchNorm


def test_null_edges_and_dead_nodes_are_never_built():
    # NAT_VGG with conv(2->3) made null: nodes 3 and 4 are dead, node 2 reaches no output, so the
    # block is the skip from node 0 alone (edge 6).
    nat_vgg = zoo.get("NAT_VGG").genotype.normal
    cell = nat_vgg.replace_ops(["null" if i == 3 else e.op for i, e in enumerate(nat_vgg.edges)])
    shapes = FAMILIES["VGG"].node_shapes(Shape(8, 1), Shape(8, 1), c_out=8, stride=1, mid=None)
    block = BlockCell(cell, shapes=shapes, activation=FAMILIES["VGG"].activation)
    assert list(block.ops) == ["6"]
    s0 = torch.randn(1, 8, 4, 4)
    assert torch.equal(block(s0, torch.randn(1, 8, 4, 4)), s0)


# -- every backbone builds, runs and trains ----------------------------------------------------------
@pytest.mark.parametrize("name, dataset", _layouts_of(NAMES))
def test_every_backbone_runs_forward_and_backward(name, dataset):
    torch.manual_seed(0)
    model = _small(name, dataset, num_classes=7)
    logits = model(torch.randn(2, 3, SIZE[dataset], SIZE[dataset]))
    assert logits.shape == (2, 7)
    logits.logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in model.parameters())  # nothing built that does not run
    model.eval()
    assert model(torch.randn(1, 3, SIZE[dataset], SIZE[dataset])).shape == (1, 7)


@pytest.mark.parametrize("name, dataset", _layouts_of(NAMES))
def test_every_unit_outputs_the_shape_the_layout_says(name, dataset):
    model, size, seen = _small(name, dataset), SIZE[dataset], []
    for unit in model.units:
        unit.register_forward_hook(lambda m, i, out: seen.append(tuple(out.shape[1:])))
    model(torch.zeros(1, 3, size, size))
    assert seen == [(s.channels, -(-size // s.scale), -(-size // s.scale)) for s in model.shapes]


# Weighted layers that give the networks their names (He et al. do not count projection
# shortcuts: ResNet-50 has four of them). MobileNetV2's name carries no depth.
DEPTHS = {"vgg16": 16, "resnet20": 20, "resnet56": 56, "resnet18": 18, "resnet50": 50 + 4}


@pytest.mark.parametrize("name", [n for n in NAMES if resolve_backbone(n).key in DEPTHS])
def test_depth_is_the_one_in_the_name_for_originals_and_nat_versions(name):
    model = _small(name)
    assert sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules()) == DEPTHS[resolve_backbone(name).key]


# -- costs against the paper -------------------------------------------------------------------------
# Table 1 of the paper: (params M, MAdds M) of the original networks.
TABLE_1 = {("vgg16", "cifar10"): (15.2, 313), ("resnet20", "cifar10"): (0.3, 41), ("resnet56", "cifar10"): (0.9, 127),
           ("mobilenetv2", "cifar10"): (2.3, 91), ("vgg16", "imagenet"): (138.4, 15620),
           ("resnet18", "imagenet"): (11.7, 1580), ("resnet50", "imagenet"): (25.6, 3530),
           ("mobilenetv2", "imagenet"): (3.4, 300)}
# Two figures of Table 1 are not within 10% of the networks they name; these are checked against
# the networks' own paper (He et al., 2016) instead. ResNet20's 0.3M is 0.27M rounded (10.1% off
# unrounded). ResNet18's 1580M MAdds is 12% below the 1.8G He et al. give (their Table 1): the 7x7
# stem and the 3x3 convs of the first stage alone take 580M, and the other stages 1.2G.
SOURCE_INSTEAD = {("resnet20", "cifar10", "params"): 0.27, ("resnet18", "imagenet", "madds"): 1800}


@pytest.mark.parametrize("key, dataset", sorted(TABLE_1))
def test_original_costs_match_the_published_figures(key, dataset):
    cost = backbone_cost(key, dataset=dataset)
    assert cost.params == cost.params_with_aux
    for i, what in enumerate(("params", "madds")):
        published = SOURCE_INSTEAD.get((key, dataset, what), TABLE_1[key, dataset][i])
        assert getattr(cost, what) / 1e6 == pytest.approx(published, rel=0.10), what


@pytest.mark.parametrize("key, dataset, what", sorted(SOURCE_INSTEAD))
def test_the_figures_checked_against_he_et_al_really_miss_table_1(key, dataset, what):
    measured = getattr(backbone_cost(key, dataset=dataset), what) / 1e6
    published = TABLE_1[key, dataset][("params", "madds").index(what)]
    assert measured != pytest.approx(published, rel=0.10)


@pytest.mark.parametrize("name, dataset", _layouts_of(n for n in NAT_NAMES if n != "NAT_MobileNetV2"))
def test_nat_versions_cost_what_their_originals_cost(name, dataset):
    # Table 1 allows 2%; the skips NAT adds here are parameter-free (subsampled, zero-filled) and free.
    original = backbone_cost(resolve_backbone(name).key, dataset=dataset)
    assert backbone_cost(name, dataset=dataset) == original


# (C_in, input resolution) of MobileNetV2's reduction blocks: the first block of each t = 6 stage.
MOBILENETV2_REDUCTIONS = {"cifar10": [(16, 32), (24, 32), (32, 16), (64, 8), (96, 8), (160, 4)],
                          "imagenet": [(16, 112), (24, 56), (32, 28), (64, 14), (96, 14), (160, 7)]}


@pytest.mark.parametrize("dataset", ["cifar10", "imagenet"])
def test_nat_mobilenetv2_saves_exactly_the_expansions_of_its_reduction_blocks(dataset):
    # The zoo's NAT_MobileNetV2 (from the NAT++ code) makes the expansion conv of the reduction
    # cell a skip: each reduction block loses a 1x1 conv C_in -> 6 C_in and its BatchNorm, and
    # nothing else changes. (So it is not Table 1's NAT-MobileNetV2, which costs +0.6%.)
    reductions = MOBILENETV2_REDUCTIONS[dataset]
    original, nat = backbone_cost("MobileNetV2", dataset=dataset), backbone_cost("NAT_MobileNetV2", dataset=dataset)
    assert original.params - nat.params == sum(6 * c * c + 2 * 6 * c for c, _ in reductions)
    assert original.madds - nat.madds == sum(6 * c * c * hw * hw for c, hw in reductions)


def test_nat_mobilenetv2_normal_cell_alone_costs_the_same():
    nat, original = zoo.get("NAT_MobileNetV2").genotype, zoo.get("MobileNetV2").genotype
    assert backbone_cost("mobilenetv2", Genotype(nat.normal, original.reduce)) == backbone_cost("MobileNetV2")


def test_a_genotype_file_builds_into_any_backbone_it_fits():
    assert backbone_cost("resnet56", zoo.get("NAT_ResBlock").genotype) == backbone_cost("NAT_ResNet56")
    # The VGG block is the residual block without its shortcut, which is parameter-free here.
    plain56 = backbone_cost("resnet56", zoo.get("VGG").genotype)
    assert plain56.params == backbone_cost("ResNet56").params


# -- original and NAT versions differ where the genotypes differ -----------------------------------------
@pytest.mark.parametrize("name", NAT_NAMES)
def test_nat_version_differs_from_the_original_exactly_in_the_changed_edges(name):
    original, nat = _small(BACKBONES[resolve_backbone(name).key].name), _small(name)
    assert original.shapes == nat.shapes  # same depth, widths and resolutions
    n_changed = 0
    for a, b in zip(original.blocks(), nat.blocks(), strict=True):
        changed = {i for i, (ea, eb) in enumerate(zip(a.cell.edges, b.cell.edges, strict=True)) if ea.op != eb.op}
        layer_a = {i: repr(a.ops[str(i)]) for i in a.edge_ops}
        layer_b = {i: repr(b.ops[str(i)]) for i in b.edge_ops}
        assert {i for i in layer_a.keys() | layer_b.keys() if layer_a.get(i) != layer_b.get(i)} == changed
        n_changed += len(changed)
    assert n_changed > 0


# -- blocks that do not fit ---------------------------------------------------------------------------
def _with_cell(cell: Cell) -> Genotype:
    return Genotype(cell, cell)


def _resblock_edges():
    return list(zoo.get("ResBlock").genotype.normal.edges)


@pytest.mark.parametrize("genotype, key, message", [
    (zoo.get("DARTS").genotype, "resnet20",
     r"normal cell: outputs node\(s\) \[2, 3, 4, 5\] \(4x as wide, concatenated\), but a resnet20 block is "
     r"the ResBlock cell: nodes 0..5, output node 5; building it would change the widths"),
    (zoo.get("ENAS").genotype, "mobilenetv2", r"normal cell: has nodes 0..6, but a mobilenetv2 block .* depth"),
    # A deeper residual block: a third conv after node 5.
    (_with_cell(Cell(_resblock_edges() + [("conv_3x3", 5, 6), ("null", 0, 6)])), "resnet56",
     r"normal cell: has nodes 0..6, but a resnet56 block is the ResBlock cell: nodes 0..5, output node 5; "
     r"building it would change the depth of every resnet56 block"),
    # The same block with its inner node 4 also sent to the output: twice as wide.
    (_with_cell(Cell(_resblock_edges(), concat=[4, 5])), "resnet18", r"outputs node\(s\) \[4, 5\] \(2x as wide"),
    (_with_cell(Cell([e if i != 3 else ("dil_conv_3x3", 2, 3) for i, e in enumerate(_resblock_edges())])), "vgg16",
     r"normal cell: edge 3 \('dil_conv_3x3', 2, 3\): op 'dil_conv_3x3' has no layer in the hand-crafted backbones"),
])
def test_blocks_of_another_shape_are_rejected_naming_cell_and_edge(genotype, key, message):
    with pytest.raises(GenotypeError, match=message):
        build_backbone(key, genotype)
    with pytest.raises(NatError):
        backbone_cost(key, genotype)
