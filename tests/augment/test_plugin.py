"""The built-in augmentations register by import string: listing them imports no op module, nor OpenCV or
StringZilla; every string names the class of its backend."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import effl_plugins as ep
from effl_plugins.augment.plugin import _BATCH_ONLY, _BOTH_BACKENDS
from effl_plugins.plugins import get_manager


def test_listing_augmentations_imports_no_op_module_nor_cv2_nor_stringzilla():
    code = """
        import json, sys
        import effl_plugins as ep
        names = ep.list_augmentations()
        print(json.dumps({"names": names, "loaded": sorted(sys.modules)}))
    """
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert {"brightness", "rand_augment", "cutmix"} <= set(result["names"])
    loaded = set(result["loaded"])
    assert not loaded & {"effl_plugins.augment.brightness", "cv2", "stringzilla"}
    assert not any(name.startswith("effl_plugins.augment.auto") for name in loaded)


def test_every_built_in_string_names_its_backend_class():
    for name in [*_BOTH_BACKENDS, *_BATCH_ONLY]:
        for backend in ep.component_info("augmentations", name)["backends"]:
            factory = get_manager().registry("augmentations").get(name, backend).factory
            assert factory.__name__.endswith("Image") == (backend == "image"), (name, backend)
