"""Publishing a checkpoint folder to the Hugging Face Hub: the weights, the manifest, the
benchmark tables and the model card (:mod:`alignda.modelcard`); a dry run writes the card and
lists the files without network."""

from __future__ import annotations

from pathlib import Path

from alignda.checkpoints import MANIFEST_NAME, read_manifest, resolve
from alignda.modelcard import build_model_card

#: Files of a checkpoint folder that go to the Hub (the card is written beside them).
UPLOAD_PATTERNS = [MANIFEST_NAME, "*.safetensors", "skill.json", "alignment.json"]
#: Where ``upload(..., dry_run=True)`` writes the card it would push.
DRY_RUN_CARD = Path("out/hub/README.md")


def upload(
    folder: str | Path, repo_id: str | None = None, token: str | None = None, dry_run: bool = False
) -> str:
    """Upload a checkpoint folder (manifest, safetensors, benchmark tables) to a Hub model repo
    with its model card (README.md, :mod:`alignda.modelcard`). ``dry_run``: check the folder,
    write the card to :data:`DRY_RUN_CARD` and list what would go, without network."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if not manifest:
        raise FileNotFoundError(f"{folder} has no {MANIFEST_NAME}: nothing to upload")
    for name in manifest:
        resolve(name, folder)  # refuse to publish a corrupt folder
    card = build_model_card(folder, repo_id)
    if dry_run:
        files = sorted({p for pattern in UPLOAD_PATTERNS for p in folder.glob(pattern)})
        DRY_RUN_CARD.parent.mkdir(parents=True, exist_ok=True)
        card.save(DRY_RUN_CARD)
        listing = "\n".join(f"  {p.name} ({p.stat().st_size:,} bytes)" for p in files)
        target = repo_id or "<no --repo-id given>"
        return (
            f"dry run: would upload to {target}:\n{listing}\n  README.md (the model card, "
            f"written to {DRY_RUN_CARD})"
        )
    if not repo_id:
        raise ValueError("upload needs a repo id (e.g. user/alignda-checkpoints)")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, exist_ok=True)
    info = api.upload_folder(
        folder_path=str(folder), repo_id=repo_id, allow_patterns=UPLOAD_PATTERNS
    )
    card.push_to_hub(repo_id, token=token)
    return str(info)
