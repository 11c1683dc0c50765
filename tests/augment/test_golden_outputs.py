"""Golden outputs: the batch ops give the same bytes (images and sampled params) for the same generator state.

The digests were recorded from the implementation before the per-call overhead work on RandAugment and
TrivialAugment (issue 26); any speed-up must leave them unchanged. uint8 outputs are exact integer results;
float outputs are float32/float64 results of the CPU kernels (recorded on x86-64, run with 1 and 2 threads).
To re-record after an intended change of results, run this file with ``EFFL_GOLDEN_PRINT=1`` and paste.
"""

from __future__ import annotations

import hashlib
import os

import pytest
import torch

import effl_plugins as ep


def _batch(shape, dtype, seed):
    g = torch.Generator().manual_seed(1000 + seed)
    x = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    if dtype == torch.uint8:
        return x
    return (x.to(dtype) / 255).to(dtype)


def _digest(out: torch.Tensor, params: dict) -> str:
    h = hashlib.sha256()
    h.update(str((tuple(out.shape), out.dtype)).encode())
    h.update(out.contiguous().numpy().tobytes())
    for key in sorted(params):
        value = params[key]
        if isinstance(value, torch.Tensor):
            h.update(key.encode())
            h.update(str(value.dtype).encode())
            h.update(value.contiguous().numpy().tobytes())
    return h.hexdigest()[:32]


_DT = {"u8": torch.uint8, "f32": torch.float32, "f64": torch.float64}

# (name, kwargs, shape, dtype, seed)
CASES = []
for _shape in ((1, 3, 32, 32), (8, 3, 32, 32), (56, 3, 32, 32), (16, 3, 64, 64), (5, 1, 17, 23), (3, 3, 2, 2)):
    for _dt in ("u8", "f32"):
        CASES += [
            ("rand_augment", {"num_ops": 2, "magnitude": 9}, _shape, _dt, 0),
            ("trivial_augment", {}, _shape, _dt, 1),
        ]
for _dt in ("u8", "f32"):
    _shape = (8, 3, 32, 32)
    CASES += [
        ("rand_augment", {"num_ops": 1, "magnitude": 0}, _shape, _dt, 3),
        ("rand_augment", {"num_ops": 3, "magnitude": 30}, _shape, _dt, 4),
        ("rand_augment", {"num_ops": 2, "magnitude": 9, "magnitude_std": 0.5}, _shape, _dt, 5),
        ("rand_augment", {"num_ops": 2, "magnitude": 15, "magnitude_std": float("inf")}, _shape, _dt, 6),
        ("rand_augment", {"num_ops": 4, "magnitude": 12, "interpolation": "bilinear", "fill": 0.5}, _shape, _dt, 7),
        ("rand_augment", {"num_ops": 2, "magnitude": 9, "fill": (0.1, 0.2, 0.3)}, _shape, _dt, 8),
        (
            "rand_augment",
            {"num_ops": 3, "magnitude": 20, "ops": ["rotate", "equalize", "color", "sharpness", "contrast"]},
            _shape,
            _dt,
            9,
        ),
        ("trivial_augment", {"wide": False}, _shape, _dt, 10),
        ("trivial_augment", {"interpolation": "bilinear"}, (56, 3, 32, 32), _dt, 11),
    ]
    for _seed in range(12, 16):  # more draws at the FixMatch size
        CASES.append(("rand_augment", {"num_ops": 2, "magnitude": 10}, (56, 3, 32, 32), _dt, _seed))
CASES += [
    ("rand_augment", {"num_ops": 2, "magnitude": 9}, (8, 3, 32, 32), "f64", 20),
    ("trivial_augment", {}, (8, 3, 32, 32), "f64", 21),
]
_OTHERS = (
    "affine",
    "auto_contrast",
    "brightness",
    "color",
    "contrast",
    "crop",
    "equalize",
    "flip",
    "hflip",
    "identity",
    "invert",
    "posterize",
    "random_resized_crop",
    "rotate",
    "sharpness",
    "shear",
    "solarize",
    "translate",
    "vflip",
)
for _name in _OTHERS:
    for _shape in ((1, 3, 32, 32), (8, 3, 32, 32), (56, 3, 32, 32)):
        for _dt in ("u8", "f32"):
            CASES.append((_name, {}, _shape, _dt, 30))


def _case_id(case):
    name, kwargs, shape, dt, seed = case
    short = {"num_ops": "N", "magnitude": "M", "magnitude_std": "std", "interpolation": "interp"}

    def text(value):
        return "+".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)

    args = ",".join(f"{short.get(k, k)}={text(v)}" for k, v in sorted(kwargs.items()))
    return f"{name}[{args}]-{'x'.join(map(str, shape))}-{dt}-s{seed}"


def _run(case) -> str:
    name, kwargs, shape, dt, seed = case
    aug = ep.create_augmentation(name, **kwargs)
    x = _batch(shape, _DT[dt], seed)
    before = x.clone()
    out, _ = aug(x, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(x, before), "input modified in place"
    digest = _digest(out, aug.last_params)
    replayed, _ = aug(x, params=aug.last_params)
    assert torch.equal(replayed, out), "replaying last_params gives another result"
    return digest


GOLDEN: dict[str, str] = {
    "rand_augment[M=9,N=2]-1x3x32x32-u8-s0": "0241dc39539de80a74cea3ea30ebe5e1",
    "trivial_augment[]-1x3x32x32-u8-s1": "4866be019f3b261478ddea6db5073c29",
    "rand_augment[M=9,N=2]-1x3x32x32-f32-s0": "0261801fb5cab2b94292b1014e6567d5",
    "trivial_augment[]-1x3x32x32-f32-s1": "676ff8900f8cc25b195835115f6bfeba",
    "rand_augment[M=9,N=2]-8x3x32x32-u8-s0": "800416e5af1d5a58ace4cfa92ed2f6ac",
    "trivial_augment[]-8x3x32x32-u8-s1": "cb5ea94263eeb5051d9a739b18331200",
    "rand_augment[M=9,N=2]-8x3x32x32-f32-s0": "7119aaf61cb5ce07baca906d0a20abf7",
    "trivial_augment[]-8x3x32x32-f32-s1": "4e1cf3c9ea9d14bddb7a27449efd7015",
    "rand_augment[M=9,N=2]-56x3x32x32-u8-s0": "999a7a6524c35a2021063425b7cb4c4c",
    "trivial_augment[]-56x3x32x32-u8-s1": "695e4a9a5ff57b684a95a8255df5aafa",
    "rand_augment[M=9,N=2]-56x3x32x32-f32-s0": "56b9df12a3e032c9ce2174ac0448b8af",
    "trivial_augment[]-56x3x32x32-f32-s1": "a1924a647f101afaf287671be78e691d",
    "rand_augment[M=9,N=2]-16x3x64x64-u8-s0": "bd46c53151f5e55476da8203e23a9073",
    "trivial_augment[]-16x3x64x64-u8-s1": "9a2ab19f0240545b65999be5e2da082c",
    "rand_augment[M=9,N=2]-16x3x64x64-f32-s0": "f74b30f7a2d497c0b46261e82c0fe3e3",
    "trivial_augment[]-16x3x64x64-f32-s1": "36080f07ca9941df267fab1182362985",
    "rand_augment[M=9,N=2]-5x1x17x23-u8-s0": "f56ca848f7a1cfeb2351b6b09b9f56f7",
    "trivial_augment[]-5x1x17x23-u8-s1": "ee4a747b3ae7f46bd940609431c39ca1",
    "rand_augment[M=9,N=2]-5x1x17x23-f32-s0": "07837d73725ead315b6c3923281a39f3",
    "trivial_augment[]-5x1x17x23-f32-s1": "df8d32b032f3efc1fd6c1ebdcbe9c041",
    "rand_augment[M=9,N=2]-3x3x2x2-u8-s0": "ae1f973defd877f3d75fbc44a4cb2899",
    "trivial_augment[]-3x3x2x2-u8-s1": "2f52f3f613cfc2eeb4d8b1c5f337e9c4",
    "rand_augment[M=9,N=2]-3x3x2x2-f32-s0": "0c8b76e3eb2975058e477b3396ef3365",
    "trivial_augment[]-3x3x2x2-f32-s1": "8abbb47d41e1106c6567af48fca9a214",
    "rand_augment[M=0,N=1]-8x3x32x32-u8-s3": "fb698269d5a644d5b6789203141972f0",
    "rand_augment[M=30,N=3]-8x3x32x32-u8-s4": "748b3c973480933951e56bc0accdcdb8",
    "rand_augment[M=9,std=0.5,N=2]-8x3x32x32-u8-s5": "3d95aca0d6cee143f0ef15ec81f827bb",
    "rand_augment[M=15,std=inf,N=2]-8x3x32x32-u8-s6": "2c36571b55a101f51d58e1d873fbff2d",
    "rand_augment[fill=0.5,interp=bilinear,M=12,N=4]-8x3x32x32-u8-s7": "44868e732898b84807f113b82b5fdafc",
    "rand_augment[fill=0.1+0.2+0.3,M=9,N=2]-8x3x32x32-u8-s8": "5eaa066b5603eb9e700c7a5bf1609dcc",
    "rand_augment[M=20,N=3,ops=rotate+equalize+color+sharpness+contrast]-8x3x32x32-u8-s9": "62f8a643bebd64be320ab5a0fa12dbf2",  # noqa: E501
    "trivial_augment[wide=False]-8x3x32x32-u8-s10": "dc92acb6356dc5b234f2b1aaed5d2dee",
    "trivial_augment[interp=bilinear]-56x3x32x32-u8-s11": "2a4c8b2dafdc677f96480bf72ff5966f",
    "rand_augment[M=10,N=2]-56x3x32x32-u8-s12": "6f6af2358e6a116c1f8cca383d7e595f",
    "rand_augment[M=10,N=2]-56x3x32x32-u8-s13": "9f79ebaaa88154694a587614b1f866c8",
    "rand_augment[M=10,N=2]-56x3x32x32-u8-s14": "f4486fc2617c4e612deada29dd27e9f6",
    "rand_augment[M=10,N=2]-56x3x32x32-u8-s15": "b8b1e140c922872bd3e4d67fa8b19b74",
    "rand_augment[M=0,N=1]-8x3x32x32-f32-s3": "e6185aef54088cb56335bbdc4b2b1b47",
    "rand_augment[M=30,N=3]-8x3x32x32-f32-s4": "e2ff7c534cab31088e9be0f902c7b502",
    "rand_augment[M=9,std=0.5,N=2]-8x3x32x32-f32-s5": "42d2bd3247f4f1eb3bba252aab66f966",
    "rand_augment[M=15,std=inf,N=2]-8x3x32x32-f32-s6": "a8b38f344c2c923bd3b9ccec3d13730b",
    "rand_augment[fill=0.5,interp=bilinear,M=12,N=4]-8x3x32x32-f32-s7": "0a8380b44fbb6d7efedef25ad8d61048",
    "rand_augment[fill=0.1+0.2+0.3,M=9,N=2]-8x3x32x32-f32-s8": "d58b77df310d3dc6b1a83d6ddc0fb1ba",
    "rand_augment[M=20,N=3,ops=rotate+equalize+color+sharpness+contrast]-8x3x32x32-f32-s9": "5ab841ed9b19285bab1a2cf3203e5114",  # noqa: E501
    "trivial_augment[wide=False]-8x3x32x32-f32-s10": "b11a9ac2e4b8e5f40d0fdbba7832aa45",
    "trivial_augment[interp=bilinear]-56x3x32x32-f32-s11": "dfe58479d0a0f32cac22176ac8656285",
    "rand_augment[M=10,N=2]-56x3x32x32-f32-s12": "e9047e87288209d2eb80bf4a602fc131",
    "rand_augment[M=10,N=2]-56x3x32x32-f32-s13": "b2836e029f319b0971d73b4350f12017",
    "rand_augment[M=10,N=2]-56x3x32x32-f32-s14": "2e3dde92c151b6f333472002bef84e48",
    "rand_augment[M=10,N=2]-56x3x32x32-f32-s15": "53f9263568d1cbd0fa3f4540536f1dda",
    "rand_augment[M=9,N=2]-8x3x32x32-f64-s20": "9feca5a0c60b671ef5347b9af917448d",
    "trivial_augment[]-8x3x32x32-f64-s21": "4f7649f3f919225e1cef6b1907823d00",
    "affine[]-1x3x32x32-u8-s30": "9044e1ca4f62bbdf3eb98ff92cf8a4ba",
    "affine[]-1x3x32x32-f32-s30": "919c0723caa0a3e1bd182eb95b13cdaa",
    "affine[]-8x3x32x32-u8-s30": "316ed213d659c87d3540e45d3b2cb13f",
    "affine[]-8x3x32x32-f32-s30": "26ca351b987b9822b98ef73631680c65",
    "affine[]-56x3x32x32-u8-s30": "322c999fa5ba796ea641c471c5042d7f",
    "affine[]-56x3x32x32-f32-s30": "dbfc8ab4d5d50785d977dc8e7d9b2658",
    "auto_contrast[]-1x3x32x32-u8-s30": "5d2175516bdc3783ca21130f06f8a8ce",
    "auto_contrast[]-1x3x32x32-f32-s30": "0ecaf361c3fc282a89f94ee380e9facb",
    "auto_contrast[]-8x3x32x32-u8-s30": "c9bd3f5b891701a9c3468c4c5cd9d026",
    "auto_contrast[]-8x3x32x32-f32-s30": "752ae0f4dd1eb493e176b55432e13e32",
    "auto_contrast[]-56x3x32x32-u8-s30": "6b7a84447dff513aa638ec36f90c8f3d",
    "auto_contrast[]-56x3x32x32-f32-s30": "06f05d9db79ead88c168fd6594305261",
    "brightness[]-1x3x32x32-u8-s30": "677ddf74605ae7ea5596e32163fa34ef",
    "brightness[]-1x3x32x32-f32-s30": "81fef52e1d32b46cd3c9180e3efc77a7",
    "brightness[]-8x3x32x32-u8-s30": "c3064c1c7f19086d60f56d655e896215",
    "brightness[]-8x3x32x32-f32-s30": "c50fb9f75e647980b3168a80174693eb",
    "brightness[]-56x3x32x32-u8-s30": "0491d8207c9eb4b7fcd23aedee664fd6",
    "brightness[]-56x3x32x32-f32-s30": "0b6b31fc6c7bd94013c187ef0e07c0c8",
    "color[]-1x3x32x32-u8-s30": "52a559d512ab46f42d5fbc3cea6b0691",
    "color[]-1x3x32x32-f32-s30": "49ae32a8c684fe772889c949a935db95",
    "color[]-8x3x32x32-u8-s30": "b3e177c983f7a934ae60b24d6c0c6852",
    "color[]-8x3x32x32-f32-s30": "d18ff1d324f9bc0df4b0ff3e50ca0043",
    "color[]-56x3x32x32-u8-s30": "50404e37965f5370721d939be33643b5",
    "color[]-56x3x32x32-f32-s30": "f20946c83043b0e5a20c031042d2c838",
    "contrast[]-1x3x32x32-u8-s30": "253bf2880978b551e3e6bbc6c2a7a5a9",
    "contrast[]-1x3x32x32-f32-s30": "00e4572d0d365c0c00ca728be1ab832d",
    "contrast[]-8x3x32x32-u8-s30": "a728f39255c226eb194655b60f74503f",
    "contrast[]-8x3x32x32-f32-s30": "0e415084532630e1724afb560e91e548",
    "contrast[]-56x3x32x32-u8-s30": "1fe424993b1f28462bbd74bf95b4c921",
    "contrast[]-56x3x32x32-f32-s30": "27022fd145ad5e88fb44645212579117",
    "crop[]-1x3x32x32-u8-s30": "b0e60ad071902d75f5948a224d6ac269",
    "crop[]-1x3x32x32-f32-s30": "29b20f4a1292143fe8fe074539169065",
    "crop[]-8x3x32x32-u8-s30": "8446dc66f632f8e67256122b85d7cfc0",
    "crop[]-8x3x32x32-f32-s30": "484cc9ad707ff44bfcfdcf27382dff24",
    "crop[]-56x3x32x32-u8-s30": "376cc960144c3295722b969027955a53",
    "crop[]-56x3x32x32-f32-s30": "e68aa1dec890f10a9754f5236864be81",
    "equalize[]-1x3x32x32-u8-s30": "5d2175516bdc3783ca21130f06f8a8ce",
    "equalize[]-1x3x32x32-f32-s30": "0ecaf361c3fc282a89f94ee380e9facb",
    "equalize[]-8x3x32x32-u8-s30": "b98ba6914905a9fd0f730f2d3981025b",
    "equalize[]-8x3x32x32-f32-s30": "d287e9f29f7ad1130b1c6842a0eb6085",
    "equalize[]-56x3x32x32-u8-s30": "34228156005219a8d6c39642d69ded0d",
    "equalize[]-56x3x32x32-f32-s30": "f6d041b95d410cf179bacb7c46234cd0",
    "flip[]-1x3x32x32-u8-s30": "0ae0701b81522c1c02fc83de2f94083e",
    "flip[]-1x3x32x32-f32-s30": "f7063fe8978f7df6d09659686668196a",
    "flip[]-8x3x32x32-u8-s30": "e3fb250f73760d63ff9808805fca2231",
    "flip[]-8x3x32x32-f32-s30": "9a5d5b2f9918455351589a8c8643e5ba",
    "flip[]-56x3x32x32-u8-s30": "c5d41b6a600198f5235aa50a7d0422fd",
    "flip[]-56x3x32x32-f32-s30": "bd044646447f7a8ffc29f5855f7e8a7c",
    "hflip[]-1x3x32x32-u8-s30": "0ae0701b81522c1c02fc83de2f94083e",
    "hflip[]-1x3x32x32-f32-s30": "f7063fe8978f7df6d09659686668196a",
    "hflip[]-8x3x32x32-u8-s30": "e3fb250f73760d63ff9808805fca2231",
    "hflip[]-8x3x32x32-f32-s30": "9a5d5b2f9918455351589a8c8643e5ba",
    "hflip[]-56x3x32x32-u8-s30": "c5d41b6a600198f5235aa50a7d0422fd",
    "hflip[]-56x3x32x32-f32-s30": "bd044646447f7a8ffc29f5855f7e8a7c",
    "identity[]-1x3x32x32-u8-s30": "4857a6a09b8086aeb970a00e4761c724",
    "identity[]-1x3x32x32-f32-s30": "8feb0f938d59df980fc6e5e2786a1106",
    "identity[]-8x3x32x32-u8-s30": "7a477ce81fd4de80cad2fce70cba3c53",
    "identity[]-8x3x32x32-f32-s30": "c0cef4e72f3c868ee1f81e6c4cde7ff5",
    "identity[]-56x3x32x32-u8-s30": "491c056060f95c5a30c1981eafdb8287",
    "identity[]-56x3x32x32-f32-s30": "678ddedd6ebf7d0f03783a0fbf80d230",
    "invert[]-1x3x32x32-u8-s30": "5d2175516bdc3783ca21130f06f8a8ce",
    "invert[]-1x3x32x32-f32-s30": "0ecaf361c3fc282a89f94ee380e9facb",
    "invert[]-8x3x32x32-u8-s30": "a4af3bbb38583aaa6f2ab0b4a1210a37",
    "invert[]-8x3x32x32-f32-s30": "7e7bcf3b7784f76dfbb7ac19aa318dca",
    "invert[]-56x3x32x32-u8-s30": "0fe76063840ac6ca94eed864c74684a4",
    "invert[]-56x3x32x32-f32-s30": "c4448c75e8d7ea082221610470bf8dd6",
    "posterize[]-1x3x32x32-u8-s30": "8a01c4e8ae1d5639abb0d570d3a5da46",
    "posterize[]-1x3x32x32-f32-s30": "5fdb307bb7b884c9130f2eef4c46d53c",
    "posterize[]-8x3x32x32-u8-s30": "7672058ac733d6a8c59aa7ef39766b74",
    "posterize[]-8x3x32x32-f32-s30": "75230a27c624ede9190f172df39651a8",
    "posterize[]-56x3x32x32-u8-s30": "3545359cb2ad08c274cb4d8dd262a7f9",
    "posterize[]-56x3x32x32-f32-s30": "b4b9f43b7b301a817c837a5e36d56a8b",
    "random_resized_crop[]-1x3x32x32-u8-s30": "efaf4106e750db86df17fea85c4ecddb",
    "random_resized_crop[]-1x3x32x32-f32-s30": "7156cb0a4a0598a639d745755719a6fc",
    "random_resized_crop[]-8x3x32x32-u8-s30": "75e1f87810f3dc59771f7b95c0ce1dc4",
    "random_resized_crop[]-8x3x32x32-f32-s30": "077ab3cb724204ce5dd56bd1ba294b65",
    "random_resized_crop[]-56x3x32x32-u8-s30": "1f1550831966190efadbf377be767fd0",
    "random_resized_crop[]-56x3x32x32-f32-s30": "55bd07d1a1ff69f7b20e03ef62084f2b",
    "rotate[]-1x3x32x32-u8-s30": "9d049356e6e8c835dac0d0f84b040d1a",
    "rotate[]-1x3x32x32-f32-s30": "3fc5483a09938ce160b68ff6aabcadff",
    "rotate[]-8x3x32x32-u8-s30": "536e821fda2893632054dca5e6824526",
    "rotate[]-8x3x32x32-f32-s30": "04646cb8e4168b6f7c82ad650618a887",
    "rotate[]-56x3x32x32-u8-s30": "fb77c27b3ac2fa2d5c6275954c24ef37",
    "rotate[]-56x3x32x32-f32-s30": "ef5ff0312181a8e6b5a40bfe646692be",
    "sharpness[]-1x3x32x32-u8-s30": "bd2fc323b41f6ba7879985a3bff46e24",
    "sharpness[]-1x3x32x32-f32-s30": "1655f28370c90d87175262c566498378",
    "sharpness[]-8x3x32x32-u8-s30": "1c5c6682bd23351f9bce4d1726a7f494",
    "sharpness[]-8x3x32x32-f32-s30": "708763a75483eae884b15e2acfa59b23",
    "sharpness[]-56x3x32x32-u8-s30": "dbf148468b7712d8ee4ad8333abce739",
    "sharpness[]-56x3x32x32-f32-s30": "5a2d6b5b8441a8dc21e8f28b39aa2519",
    "shear[]-1x3x32x32-u8-s30": "dc3268c71e117ba5b95699ce52ac330d",
    "shear[]-1x3x32x32-f32-s30": "e33a1fdd8b7f4a1b948f05e5457dd15a",
    "shear[]-8x3x32x32-u8-s30": "2eac508b544d5047e7b5b0147ef13aaa",
    "shear[]-8x3x32x32-f32-s30": "0ecfdbd317f22acd051c936a184c2b9d",
    "shear[]-56x3x32x32-u8-s30": "e254e90e9f13630f7a4e96fe81a4b047",
    "shear[]-56x3x32x32-f32-s30": "7be1cd0bbb2620db926ce36f69136dc4",
    "solarize[]-1x3x32x32-u8-s30": "d3b18f26094892f740984fdc017f0b19",
    "solarize[]-1x3x32x32-f32-s30": "4e02f6a27a5839f9984ad4a7c301fe98",
    "solarize[]-8x3x32x32-u8-s30": "afa749d312e2f914d998389e3505a298",
    "solarize[]-8x3x32x32-f32-s30": "d7c09e61df09ab28758242e3d980ce97",
    "solarize[]-56x3x32x32-u8-s30": "2f55a9c569e110f5ea84bcf45023a10c",
    "solarize[]-56x3x32x32-f32-s30": "9ca9d8f85e46ab424000c1715f7fb937",
    "translate[]-1x3x32x32-u8-s30": "901b2d5a1ad26b5d774a6084b52f578f",
    "translate[]-1x3x32x32-f32-s30": "3a4162edcc69e9a116363de40c49aa56",
    "translate[]-8x3x32x32-u8-s30": "bfb2d430267501960412afecb7fbc040",
    "translate[]-8x3x32x32-f32-s30": "06bdb77f109b128e7e28b669b97e0eae",
    "translate[]-56x3x32x32-u8-s30": "0ae9278b9683157e08f39c0d9944e28f",
    "translate[]-56x3x32x32-f32-s30": "e8079634d9311a9991b40a4113661fda",
    "vflip[]-1x3x32x32-u8-s30": "0ae0701b81522c1c02fc83de2f94083e",
    "vflip[]-1x3x32x32-f32-s30": "f7063fe8978f7df6d09659686668196a",
    "vflip[]-8x3x32x32-u8-s30": "e40fc1a22b851066eead8555e48554b9",
    "vflip[]-8x3x32x32-f32-s30": "8190178a9d7196343eb7f1b9e88ca53b",
    "vflip[]-56x3x32x32-u8-s30": "a47bca80317f94fad9f169efab43282d",
    "vflip[]-56x3x32x32-f32-s30": "8fb281e1973662fb2b1b949a4f0e4dcd",
}


@pytest.mark.parametrize("threads", [1, 2])
def test_golden_outputs(threads):
    if os.environ.get("EFFL_GOLDEN_PRINT"):
        for case in CASES:
            print(f"    {_case_id(case)!r}: {_run(case)!r},")
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        wrong = [case_id for case_id, case in ((_case_id(c), c) for c in CASES) if _run(case) != GOLDEN[case_id]]
    finally:
        torch.set_num_threads(previous)
    assert not wrong, f"{len(wrong)} of {len(CASES)} outputs changed: {wrong}"
