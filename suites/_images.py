"""Push small OCI images through the target's /v2 registry (harness/oci.py) so the tag and manifest suites have
something to tag, and remember what was pushed (digests, layer sizes) for the suites' expectations."""

from __future__ import annotations

from dataclasses import dataclass

from harness.oci import config_bytes, default_config, make_image, sha256_digest
from harness.world import Persona, Target, World

LAYER_SIZE = 64  # bytes of random data per layer: the tests need distinct digests, not volume


@dataclass(frozen=True)
class PushedImage:
    digest: str
    layer_sizes: tuple[int, ...]  # compressed sizes, in manifest order
    layer_digests: tuple[str, ...]
    config_digest: str

    @property
    def size(self) -> int:
        """What Quay reports as a tag's size: the compressed layers, without the config blob."""
        return sum(self.layer_sizes)


class ImagePusher:
    """`ImagePusher(target, persona).push_image("ns/repo", "tag", seed="x", layers=2)` -> PushedImage."""

    def __init__(self, target: Target, persona: Persona) -> None:
        self.registry = target.registry_client(*persona.registry_login(), record=False)

    def close(self) -> None:
        self.registry.close()

    def __enter__(self) -> ImagePusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def push_image(self, repo: str, tag: str, seed: str, layers: int = 1,
                   labels: dict[str, str] | None = None) -> PushedImage:
        """A deterministic image from `seed` (distinct seeds share no blob), pushed under `tag`. Its config carries
        exactly `labels`: Quay turns config labels into manifest labels, and the suites count those."""
        blobs = make_image(seed, n_layers=layers, layer_size=LAYER_SIZE).layers
        config = default_config(blobs, labels)
        # Monolithic uploads: one request per blob (after the HEAD that skips blobs already there).
        digest = self.registry.push_image(repo, tag, blobs, config, monolithic=True)
        return PushedImage(digest, tuple(len(layer) for layer in blobs),
                           tuple(sha256_digest(layer) for layer in blobs), sha256_digest(config_bytes(config)))


def push_images(target: Target, persona: Persona, repo: str, count: int, *, tag_prefix: str = "base",
                seed: str = "") -> list[PushedImage]:
    """`count` distinct images tagged `<tag_prefix>0..`, pushed as `persona` (who needs write on `repo`)."""
    seed = seed or repo
    with ImagePusher(target, persona) as pusher:
        # Image i has i+1 layers, so sizes differ as well as digests.
        return [pusher.push_image(repo, f"{tag_prefix}{i}", f"{seed}/{i}", layers=i + 1) for i in range(count)]


@dataclass(frozen=True)
class SeededRepo:
    owner: Persona  # admin of the organization (and so of the repository)
    org: str
    repo: str  # "org/name", private
    images: list[PushedImage]  # images[i] is tagged base<i>


def seed_repo(world: World, target: Target, images: int = 2, visibility: str = "private") -> SeededRepo:
    """A new organization, one repository in it, and `images` distinct images pushed. The superuser owns it when
    it has a password for /v2/auth (creating a user costs a password hash and a token mint); otherwise a new
    user does."""
    owner = world.admin if world.admin.password else world.user()
    org = world.org(owner=owner)
    repo = world.repo(org, visibility=visibility, as_=owner)
    return SeededRepo(owner, org, repo, push_images(target, owner, repo, images))
