"""Per-run logs (human .log, JSON lines .json, _summary.json) and the persistent errors.jsonl."""

from .session import ErrorRecord, RunLogger, error_record, fingerprint, new_run_id, plugin_load_record

__all__ = ["ErrorRecord", "RunLogger", "error_record", "fingerprint", "new_run_id", "plugin_load_record"]
