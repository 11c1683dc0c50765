"""The plugin module named by this distribution's ``effl_plugins`` entry point."""

import effl_plugins as ep


@ep.hookimpl
def register_augmentations(register):
    # both backends in one call; one backend alone: register(name, "...noise:GaussianNoise", backend="batch")
    register(
        "example_gaussian_noise",
        batch="effl_plugins_example.noise:GaussianNoise",
        image="effl_plugins_example.noise:GaussianNoiseImage",
    )


@ep.hookimpl
def register_losses(register):
    register("example_cosine", "effl_plugins_example.cosine:CosineLogitLoss")


@ep.hookimpl
def register_strategies(register):
    # an import string is imported when the component is built; passing the class itself works too
    register("example_nearest_centroid", "effl_plugins_example.centroid:NearestCentroid")
    register("example_entropy_min", "effl_plugins_example.entropy:EntropyMinimization")


@ep.hookimpl
def register_commands(subparsers):
    parser = subparsers.add_parser("example-check", help="run effl's conformance checks on effl-plugins-example")
    parser.set_defaults(handler=_check)


def _check(args) -> int:
    from effl_plugins.testing import check_augmentation, check_image_augmentation, check_loss

    check_augmentation("example_gaussian_noise")
    check_image_augmentation("example_gaussian_noise")
    check_loss("example_cosine")
    print("example_gaussian_noise (batch, image), example_cosine: conformance checks passed")
    return 0
