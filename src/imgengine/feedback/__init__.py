"""The feedback loop: a run's failures become reviewed, validated source fixes.

EXECUTE (``analyze`` writes ``errors.jsonl``) → ANALYZE (:mod:`.grouping`: one group per fingerprint) →
SUGGEST (:mod:`.patterns`: libcst transforms that match a group) → APPLY (:mod:`.apply`: backup, rewrite)
→ VALIDATE (:mod:`.validation`: import, ruff, check command, re-run of the failing photos) → keep or roll
back byte-identically → LEARN (:mod:`.learning`: a Beta posterior per pattern from ``fixes.jsonl``).
"""
