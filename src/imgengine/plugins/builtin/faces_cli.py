"""`imgengine faces list|show|name|merge|split|unname`: the people in a catalog.

Every command first brings the faces table up to date with the catalog's faces results (cheap when
nothing changed), so it works right after `imgengine analyze`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ...catalog import CatalogStore
from ...cli.common import (
    ConfigOption,
    console,
    err_console,
    handle_errors,
    open_existing_catalog,
    print_json,
    settings_from,
)
from . import faces_index as fi

faces_app = typer.Typer(help="People: face clusters found by the faces analyzer; name, merge, split them.",
                        no_args_is_help=True)

DirOption = typer.Option(None, "--dir", help="Folder whose catalog to use (default: the nearest .imgengine/ "
                         "from here).")
CatalogOption = typer.Option(None, "--catalog", help="Catalog path or postgresql:// URL.")
JsonOption = typer.Option(False, "--json", help="Print JSON.")
EpsOption = typer.Option(fi.DEFAULT_EPS, "--eps", help="Clustering distance for new faces (dlib embeddings; "
                         "same person is usually below 0.6).")
MinFacesOption = typer.Option(fi.DEFAULT_MIN_FACES, "--min-faces", help="Faces needed to start a new cluster.")


def open_catalog(directory: Path | None, catalog: str | None, config: Path | None) -> CatalogStore:
    return open_existing_catalog(settings_from(config, catalog=catalog), directory)


def sync(cat: CatalogStore, eps: float = fi.DEFAULT_EPS, min_faces: int = fi.DEFAULT_MIN_FACES) -> fi.SyncReport:
    """Bring the faces table up to date, with a spinner (a first sync over a large catalog takes a while)."""
    with err_console.status("updating faces and clusters from the catalog", spinner="dots"):
        return fi.sync_faces(cat, eps, min_faces)


@faces_app.command("list")
@handle_errors
def list_cmd(directory: Path | None = DirOption, catalog: str | None = CatalogOption, json_out: bool = JsonOption,
             eps: float = EpsOption, min_faces: int = MinFacesOption, config: Path | None = ConfigOption) -> None:
    """List face clusters: who (named or recognised), how many faces and photos."""
    with open_catalog(directory, catalog, config) as cat:
        report = sync(cat, eps, min_faces)
        clusters = fi.list_clusters(cat)
        unclustered = cat.session.execute("SELECT count(*) FROM faces WHERE cluster_id IS NULL").fetchone()[0]
    if json_out:
        print_json({"clusters": [c.to_dict() for c in clusters], "unclustered_faces": unclustered,
               "sync": report.__dict__})
        return
    if not clusters:
        console.print("no faces in the catalog yet (run `imgengine analyze` with the faces analyzer)")
        return
    from rich.table import Table

    table = Table(title=f"{len(clusters)} face cluster(s)", title_justify="left")
    for col in ("cluster", "person", "faces", "photos", "e.g."):
        table.add_column(col, overflow="fold", justify="right" if col in ("cluster", "faces", "photos") else "left")
    for c in clusters:
        who = c.person or (f"[dim]{c.recognised}?[/]" if c.recognised else "[dim]unnamed[/]")
        table.add_row(str(c.id), who, str(c.faces), str(c.photos), c.sample[0] if c.sample else "")
    console.print(table)
    if unclustered:
        console.print(f"{unclustered} face(s) not yet in a cluster (fewer than --min-faces similar faces)")


@faces_app.command("show")
@handle_errors
def show_cmd(cluster: int = typer.Argument(..., help="Cluster id from `faces list`."),
             directory: Path | None = DirOption, catalog: str | None = CatalogOption, json_out: bool = JsonOption,
             config: Path | None = ConfigOption) -> None:
    """The faces of one cluster: photo, box, detection score."""
    with open_catalog(directory, catalog, config) as cat:
        sync(cat)
        faces = fi.cluster_faces(cat, cluster)
        info = next((c for c in fi.list_clusters(cat, sample=0) if c.id == cluster), None)
    if json_out:
        print_json({"cluster": cluster, "person": info.person if info else None, "faces": faces})
        return
    from rich.table import Table

    table = Table(title=f"cluster {cluster}: {info.person or 'unnamed' if info else ''}", title_justify="left")
    for col in ("face", "photo", "box (x0 y0 x1 y1, 0-1)", "score", "recognised"):
        table.add_column(col, overflow="fold")
    for f in faces:
        rec = f"{f['recognised']} ({f['confidence']:.2f})" if f["recognised"] else ""
        table.add_row(str(f["face"]), f["path"], " ".join(f"{v:.3f}" for v in f["box"]), f"{f['score']:.2f}", rec)
    console.print(table)


@faces_app.command("name")
@handle_errors
def name_cmd(cluster: int = typer.Argument(...), name: str = typer.Argument(..., help="The person's name."),
             directory: Path | None = DirOption, catalog: str | None = CatalogOption, json_out: bool = JsonOption,
             config: Path | None = ConfigOption) -> None:
    """Name a cluster: its photos are then found by `search --person NAME`."""
    with open_catalog(directory, catalog, config) as cat:
        sync(cat)
        fi.name_cluster(cat, cluster, name)
    _done(json_out, {"cluster": cluster, "person": name.strip()}, f"cluster {cluster} is now {name.strip()}")


@faces_app.command("unname")
@handle_errors
def unname_cmd(cluster: int = typer.Argument(...), directory: Path | None = DirOption,
               catalog: str | None = CatalogOption, json_out: bool = JsonOption,
               config: Path | None = ConfigOption) -> None:
    """Remove the name from a cluster."""
    with open_catalog(directory, catalog, config) as cat:
        fi.unname_cluster(cat, cluster)
    _done(json_out, {"cluster": cluster, "person": None}, f"cluster {cluster} is unnamed")


@faces_app.command("merge")
@handle_errors
def merge_cmd(into: int = typer.Argument(..., help="Cluster that keeps its id."),
              others: list[int] = typer.Argument(..., help="Clusters merged into it."),
              directory: Path | None = DirOption, catalog: str | None = CatalogOption, json_out: bool = JsonOption,
              config: Path | None = ConfigOption) -> None:
    """Merge clusters that show the same person."""
    with open_catalog(directory, catalog, config) as cat:
        sync(cat)
        moved = fi.merge_clusters(cat, into, list(others))
    _done(json_out, {"cluster": into, "merged": list(others), "faces_moved": moved},
          f"merged {len(others)} cluster(s) into {into} ({moved} face(s) moved)")


@faces_app.command("split")
@handle_errors
def split_cmd(cluster: int = typer.Argument(...),
              face: list[int] | None = typer.Option(None, "--face", help="Face id (from `faces show`) to move "
                                                    "to a new cluster (repeatable). Without: re-cluster tighter."),
              directory: Path | None = DirOption, catalog: str | None = CatalogOption, json_out: bool = JsonOption,
              config: Path | None = ConfigOption) -> None:
    """Split a cluster that mixes people."""
    with open_catalog(directory, catalog, config) as cat:
        sync(cat)
        created = fi.split_cluster(cat, cluster, list(face or []))
    msg = f"cluster {cluster} split; new cluster(s): {', '.join(map(str, created))}" if created else \
        f"cluster {cluster}: its faces are all within a tighter distance; nothing split"
    _done(json_out, {"cluster": cluster, "new_clusters": created}, msg)


def _done(json_out: bool, doc: dict, message: str) -> None:
    if json_out:
        print_json(doc)
    else:
        console.print(message, highlight=False)
