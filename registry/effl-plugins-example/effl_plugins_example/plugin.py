"""The plugin module named by this distribution's ``effl_plugins`` entry point."""

import effl_plugins as ep


@ep.hookimpl
def register_augmentations(register):
    from .noise import GaussianNoise

    register("example_gaussian_noise", GaussianNoise, backend="batch")


@ep.hookimpl
def register_losses(register):
    from .cosine import CosineLogitLoss

    register("example_cosine", CosineLogitLoss)


@ep.hookimpl
def register_strategies(register):
    from .centroid import NearestCentroid
    from .entropy import EntropyMinimization

    register("example_nearest_centroid", NearestCentroid)
    register("example_entropy_min", EntropyMinimization)
