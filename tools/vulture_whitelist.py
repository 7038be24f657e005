"""Names the dead-code check (tools/dead_code.py) must not report: hooks that a framework calls by name.

Vulture counts a name as used when it is read here. Each line says who calls it.
"""
# ruff: noqa: B018, F821

protocol_version, daemon_threads, close_connection, RequestHandlerClass  # http.server reads them (core/serve_model.py)
do_GET, do_POST, log_message  # http.server.BaseHTTPRequestHandler calls them (core/serve_model.py)
impl, cache_ok, process_bind_param, process_result_value  # SQLAlchemy TypeDecorator (core/store/models.py)
isolation_level  # sqlite3.Connection, set for SQLAlchemy's transactions (core/store/database.py)
hf_quantizer  # transformers: a dequantised GGUF model is no longer quantised (core/models/loading.py)
uses_pages_directory  # Streamlit's pages-folder mode, turned off (ui/serve.py)
down_revision, branch_labels, depends_on, upgrade, downgrade  # Alembic, in every migration
wait_for_warm_up  # called in the script tests/ui/test_warm_up.py runs in a fresh process
score_empty, cut_chars  # result fields, saved through dataclasses.asdict; read by ui/documents/view.py, core/probes/documents/report.py
bad_rows  # a result field, saved through dataclasses.asdict; read by ui/studies/view.py, core/probes/studies/report.py
__class__  # assigned to give a tokenizer its locked subclass in place (core/models/tokenizer_lock.py)
is_initialized, get_seq_length  # transformers' cache layers: read by Cache and the models' mask code (core/attribution/scorer._FilledLayer)
