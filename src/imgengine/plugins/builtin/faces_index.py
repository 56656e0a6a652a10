"""Faces across the catalog: copy the faces analyzer's results into the ``faces`` table, cluster unknown
faces incrementally, and the operations behind ``imgengine faces`` (name, merge, split, unname).

Clustering works like Immich's: the first pass over unclustered faces is DBSCAN (Euclidean, ``eps``);
afterwards a new face joins the cluster of its nearest clustered face when that face is within ``eps``,
so adding photos never re-clusters (and never renames) what the user has already seen. Faces left over
(no clustered neighbour within ``eps``) are clustered among themselves with DBSCAN; with
``min_faces`` > 1, faces without enough neighbours stay unclustered and are tried again on the next sync.

``eps`` defaults to 0.5, stricter than dlib's same-person threshold (0.6), because single-linkage chains:
one borderline pair would otherwise join two people's clusters.

A face's person is its cluster's name when the cluster is named, else the person the analyzer recognised
from ``known_faces_dir`` (if any).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...core.catalog import Catalog
from ...errors import UsageError

if TYPE_CHECKING:  # numpy is imported where vectors are handled, not when the plugin registers
    import numpy as np

ANALYZER = "faces"
DEFAULT_EPS = 0.5
DEFAULT_MIN_FACES = 1


@dataclass
class SyncReport:
    photos: int = 0            # photos whose faces were (re)copied
    faces_added: int = 0
    joined: int = 0            # new faces that joined an existing cluster
    new_clusters: int = 0
    unclustered: int = 0       # faces left without a cluster (min_faces > 1)


@dataclass
class ClusterInfo:
    id: int
    person: str | None
    recognised: str | None     # most common known_faces_dir match among its faces, when unnamed
    faces: int
    photos: int
    sample: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.id, "person": self.person, "recognised": self.recognised, "faces": self.faces,
                "photos": self.photos, "sample": self.sample}


def _vec(blob: bytes) -> np.ndarray:
    import numpy as np

    return np.frombuffer(blob, dtype=np.float32)


def sync_faces(catalog: Catalog, eps: float = DEFAULT_EPS, min_faces: int = DEFAULT_MIN_FACES) -> SyncReport:
    """Bring the faces table up to date with the faces results, then cluster the new faces."""
    import numpy as np

    report = SyncReport()
    db = catalog.session
    stale = db.execute(
        "SELECT r.photo_id, r.data, r.updated_at FROM results r "
        "LEFT JOIN plugin_sync s ON s.photo_id = r.photo_id AND s.analyzer = r.analyzer "
        "WHERE r.analyzer = ? AND (s.result_updated_at IS NULL OR s.result_updated_at != r.updated_at)",
        (ANALYZER,)).fetchall()
    with db:
        # a photo re-analysed without the faces analyzer lost its faces result: its faces go too
        gone = "SELECT photo_id FROM results WHERE analyzer = ?"
        db.execute(f"DELETE FROM faces WHERE photo_id NOT IN ({gone})", (ANALYZER,))
        db.execute(f"DELETE FROM plugin_sync WHERE analyzer = ? AND photo_id NOT IN ({gone})", (ANALYZER, ANALYZER))
        for row in stale:
            photo_id = row["photo_id"]
            db.execute("DELETE FROM faces WHERE photo_id = ?", (photo_id,))
            data = json.loads(row["data"]) if row["data"] else {}
            for i, face in enumerate(data.get("faces") or []):
                emb = face.get("embedding")
                if not emb:
                    continue
                db.execute(
                    "INSERT INTO faces (photo_id, face_index, box, score, embedding, model, known_person, confidence) "
                    "VALUES (?,?,?,?,?,?,?,?)",
                    (photo_id, i, json.dumps(face.get("box")), face.get("score"),
                     np.asarray(emb, dtype=np.float32).tobytes(), data.get("model"), face.get("person"),
                     face.get("confidence")))
                report.faces_added += 1
            db.execute("INSERT OR REPLACE INTO plugin_sync (photo_id, analyzer, result_updated_at) VALUES (?,?,?)",
                       (photo_id, ANALYZER, row["updated_at"]))
            report.photos += 1
        _drop_empty_clusters(db)
        _cluster_new(db, eps, min_faces, report)
    return report


def _drop_empty_clusters(db) -> None:
    db.execute("DELETE FROM face_clusters WHERE id NOT IN (SELECT DISTINCT cluster_id FROM faces "
               "WHERE cluster_id IS NOT NULL)")


def _cluster_new(db, eps: float, min_faces: int, report: SyncReport) -> None:
    import numpy as np

    new = db.execute("SELECT id, embedding FROM faces WHERE cluster_id IS NULL ORDER BY id").fetchall()
    if not new:
        return
    new_ids = np.array([r["id"] for r in new])
    new_vecs = np.stack([_vec(r["embedding"]) for r in new])
    done = db.execute("SELECT id, embedding, cluster_id FROM faces WHERE cluster_id IS NOT NULL").fetchall()
    left = np.ones(len(new_ids), dtype=bool)
    now = time.time()
    if done:
        vecs = np.stack([_vec(r["embedding"]) for r in done])
        clusters = np.array([r["cluster_id"] for r in done])
        for start in range(0, len(new_ids), 1024):
            chunk = new_vecs[start:start + 1024]
            d = np.sqrt(np.maximum(0.0, (chunk ** 2).sum(1)[:, None] + (vecs ** 2).sum(1)[None, :]
                                   - 2.0 * chunk @ vecs.T))
            nearest = d.argmin(axis=1)
            for j, k in enumerate(nearest):
                if d[j, k] <= eps:
                    db.execute("UPDATE faces SET cluster_id = ? WHERE id = ?",
                               (int(clusters[k]), int(new_ids[start + j])))
                    left[start + j] = False
                    report.joined += 1
    if not left.any():
        return
    rest_ids, rest_vecs = new_ids[left], new_vecs[left]
    labels = _dbscan(rest_vecs, eps, min_faces)
    for label in sorted(set(labels.tolist()) - {-1}):
        cid = db.execute("INSERT INTO face_clusters (created_at, updated_at) VALUES (?, ?)", (now, now)).lastrowid
        members = rest_ids[labels == label]
        db.executemany("UPDATE faces SET cluster_id = ? WHERE id = ?", [(cid, int(i)) for i in members])
        report.new_clusters += 1
    report.unclustered = int((labels == -1).sum())


def _dbscan(vectors: np.ndarray, eps: float, min_faces: int) -> np.ndarray:
    import numpy as np
    from sklearn.cluster import DBSCAN

    if len(vectors) == 1:
        return np.array([0 if min_faces <= 1 else -1])
    return DBSCAN(eps=eps, min_samples=max(1, int(min_faces)), metric="euclidean").fit(vectors).labels_


# -- reads ---------------------------------------------------------------------------------------------


def list_clusters(catalog: Catalog, sample: int = 3) -> list[ClusterInfo]:
    db = catalog.session
    rows = db.execute(
        "SELECT c.id, pe.name AS person, count(f.id) AS n, count(DISTINCT f.photo_id) AS photos "
        "FROM face_clusters c JOIN faces f ON f.cluster_id = c.id LEFT JOIN people pe ON pe.id = c.person_id "
        "GROUP BY c.id, pe.name ORDER BY n DESC, c.id").fetchall()
    out = []
    for r in rows:
        recognised = None
        if r["person"] is None:
            top = db.execute("SELECT known_person, count(*) AS k FROM faces WHERE cluster_id = ? AND known_person "
                             "IS NOT NULL GROUP BY known_person ORDER BY k DESC LIMIT 1", (r["id"],)).fetchone()
            recognised = top["known_person"] if top else None
        paths = [p["display_path"] for p in db.execute(
            "SELECT DISTINCT p.display_path FROM faces f JOIN photos p ON p.id = f.photo_id WHERE f.cluster_id = ? "
            "AND p.missing_since IS NULL ORDER BY p.display_path LIMIT ?", (r["id"], sample))]
        out.append(ClusterInfo(r["id"], r["person"], recognised, r["n"], r["photos"], paths))
    return out


def cluster_faces(catalog: Catalog, cluster_id: int) -> list[dict[str, Any]]:
    _require_cluster(catalog, cluster_id)
    rows = catalog.session.execute(
        "SELECT f.id, f.box, f.score, f.known_person, f.confidence, p.path, p.display_path FROM faces f "
        "JOIN photos p ON p.id = f.photo_id WHERE f.cluster_id = ? AND p.missing_since IS NULL "
        "ORDER BY p.display_path, f.face_index",
        (cluster_id,)).fetchall()
    return [{"face": r["id"], "path": r["display_path"], "box": json.loads(r["box"]), "score": r["score"],
             "recognised": r["known_person"], "confidence": r["confidence"]} for r in rows]


def photos_of_person(catalog: Catalog, name: str) -> set[int]:
    """Photo ids showing ``name``: faces in a cluster named so, or recognised from known_faces_dir as ``name``
    in a cluster that the user has not named otherwise."""
    rows = catalog.session.execute(
        "SELECT DISTINCT f.photo_id FROM faces f LEFT JOIN face_clusters c ON c.id = f.cluster_id "
        "LEFT JOIN people pe ON pe.id = c.person_id "
        "WHERE pe.name = ? COLLATE NOCASE OR (pe.id IS NULL AND f.known_person = ? COLLATE NOCASE)",
        (name, name))
    return {r[0] for r in rows}


def people_of_photo(catalog: Catalog, photo_id: int) -> list[str]:
    rows = catalog.session.execute(
        "SELECT DISTINCT coalesce(pe.name, f.known_person) AS who FROM faces f "
        "LEFT JOIN face_clusters c ON c.id = f.cluster_id LEFT JOIN people pe ON pe.id = c.person_id "
        "WHERE f.photo_id = ? AND coalesce(pe.name, f.known_person) IS NOT NULL ORDER BY who", (photo_id,))
    return [r[0] for r in rows]


def photo_paths(catalog: Catalog, ids: set[int]) -> list[tuple[int, str]]:
    out = []
    for i in sorted(ids):
        row = catalog.session.execute("SELECT path, display_path FROM photos WHERE id = ? AND missing_since IS NULL",
                                 (i,)).fetchone()
        if row is not None:
            out.append((i, row["display_path"]))
    return sorted(out, key=lambda t: t[1])


# -- edits ---------------------------------------------------------------------------------------------


def _require_cluster(catalog: Catalog, cluster_id: int) -> None:
    if catalog.session.execute("SELECT 1 FROM face_clusters WHERE id = ?", (cluster_id,)).fetchone() is None:
        raise UsageError(f"no face cluster {cluster_id}; see `imgengine faces list`")


def name_cluster(catalog: Catalog, cluster_id: int, name: str) -> None:
    name = name.strip()
    if not name:
        raise UsageError("a person's name cannot be empty")
    _require_cluster(catalog, cluster_id)
    db = catalog.session
    with db:
        row = db.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE", (name,)).fetchone()
        person_id = row["id"] if row else db.execute("INSERT INTO people (name, created_at) VALUES (?, ?)",
                                                     (name, time.time())).lastrowid
        db.execute("UPDATE face_clusters SET person_id = ?, updated_at = ? WHERE id = ?",
                   (person_id, time.time(), cluster_id))


def unname_cluster(catalog: Catalog, cluster_id: int) -> None:
    _require_cluster(catalog, cluster_id)
    with catalog.session:
        catalog.session.execute("UPDATE face_clusters SET person_id = NULL, updated_at = ? WHERE id = ?",
                           (time.time(), cluster_id))
        catalog.session.execute("DELETE FROM people WHERE id NOT IN (SELECT person_id FROM face_clusters "
                           "WHERE person_id IS NOT NULL)")


def merge_clusters(catalog: Catalog, into: int, others: list[int]) -> int:
    """Move every face of ``others`` into ``into``; returns how many faces moved. An unnamed target takes
    the name of a named source; two different names refuse to merge."""
    _require_cluster(catalog, into)
    others = [c for c in dict.fromkeys(others) if c != into]
    if not others:
        raise UsageError("name at least one other cluster to merge")
    db = catalog.session
    for c in others:
        _require_cluster(catalog, c)
    names = {r[0] for r in db.execute(
        f"SELECT person_id FROM face_clusters WHERE id IN ({','.join('?' * (len(others) + 1))}) "
        "AND person_id IS NOT NULL", (into, *others))}
    if len(names) > 1:
        raise UsageError("these clusters are named as different people; unname one first")
    moved = 0
    with db:
        for c in others:
            moved += db.execute("UPDATE faces SET cluster_id = ? WHERE cluster_id = ?", (into, c)).rowcount
            db.execute("DELETE FROM face_clusters WHERE id = ?", (c,))
        if names:
            db.execute("UPDATE face_clusters SET person_id = ?, updated_at = ? WHERE id = ?",
                       (names.pop(), time.time(), into))
    return moved


def split_cluster(catalog: Catalog, cluster_id: int, face_ids: list[int] | None = None,
                  eps: float = DEFAULT_EPS) -> list[int]:
    """Split a cluster: the given faces into a new cluster, or (none given) re-cluster its faces with a
    tighter ``eps`` (three quarters). The largest part keeps the cluster id and its name; returns the new
    cluster ids."""
    import numpy as np

    _require_cluster(catalog, cluster_id)
    db = catalog.session
    rows = db.execute("SELECT id, embedding FROM faces WHERE cluster_id = ? ORDER BY id", (cluster_id,)).fetchall()
    ids = np.array([r["id"] for r in rows])
    if face_ids:
        unknown = set(face_ids) - set(ids.tolist())
        if unknown:
            raise UsageError(f"face(s) {', '.join(map(str, sorted(unknown)))} are not in cluster {cluster_id}")
        if len(set(face_ids)) == len(ids):
            raise UsageError("that is every face of the cluster; name fewer faces to split off")
        labels = np.where(np.isin(ids, face_ids), 1, 0)
    else:
        if len(ids) < 2:
            raise UsageError(f"cluster {cluster_id} has one face; nothing to split")
        labels = _dbscan(np.stack([_vec(r["embedding"]) for r in rows]), eps * 0.75, 1)
    parts = [0, 1] if face_ids else sorted(set(labels.tolist()), key=lambda lab: -(labels == lab).sum())
    created = []
    now = time.time()
    with db:
        for lab in parts[1:]:
            cid = db.execute("INSERT INTO face_clusters (created_at, updated_at) VALUES (?, ?)", (now, now)).lastrowid
            db.executemany("UPDATE faces SET cluster_id = ? WHERE id = ?", [(cid, int(i)) for i in ids[labels == lab]])
            created.append(cid)
    return created


def people_by_photo(catalog: Catalog, sync: bool = True) -> dict[int, list[str]]:
    """Every photo's people in one query: named clusters first, else names recognised from known_faces_dir.
    ``sync`` brings the faces tables up to date first (skipped for a read-only catalog)."""
    if sync:
        try:
            sync_faces(catalog)
        except Exception:  # noqa: BLE001 - a read-only catalog keeps the index it has
            pass
    out: dict[int, list[str]] = {}
    try:
        rows = catalog.session.execute(
            "SELECT DISTINCT f.photo_id, coalesce(pe.name, f.known_person) AS who FROM faces f "
            "LEFT JOIN face_clusters c ON c.id = f.cluster_id LEFT JOIN people pe ON pe.id = c.person_id "
            "WHERE coalesce(pe.name, f.known_person) IS NOT NULL ORDER BY who").fetchall()
    except Exception:  # noqa: BLE001 - a catalog from before the faces migration
        return out
    for row in rows:
        out.setdefault(row[0], []).append(row[1])
    return out


def names_by_face(catalog: Catalog) -> dict[tuple[int, int], str]:
    """Each face's person, keyed by (photo id, index in the faces result): the name given to its cluster,
    else the person recognised from known_faces_dir. Faces nobody named are left out."""
    try:
        rows = catalog.db.execute(
            "SELECT f.photo_id, f.face_index, coalesce(pe.name, f.known_person) AS who FROM faces f "
            "LEFT JOIN face_clusters c ON c.id = f.cluster_id LEFT JOIN people pe ON pe.id = c.person_id "
            "WHERE coalesce(pe.name, f.known_person) IS NOT NULL").fetchall()
    except Exception:  # noqa: BLE001 - a catalog from before the faces migration
        return {}
    return {(row[0], row[1]): row[2] for row in rows}


def with_people(catalog: Catalog, records, sync: bool = True):
    """``records`` with ``rec["people"]`` set from the faces index (names given to clusters included), so
    filters and exports see the people a user named, not only those recognised at analysis time."""
    people = people_by_photo(catalog, sync=sync)
    for rec in records:
        names = people.get(rec["id"])
        if names is None:          # not in the index (a read-only catalog never synced): the analyzer's names
            faces = (rec.get("results") or {}).get(ANALYZER) or {}
            names = sorted({str(p) for p in faces.get("people") or ()})
        rec["people"] = names
        yield rec
