"""Session function: client secrets (/session, /session/refresh) and the tasks REST API.

Buffered responses through Mangum on the managed Python runtime; imports no agent code so
it starts in a fraction of the chatkit function's time.
"""

from mangum import Mangum

from todo_assistant.web.snapstart import register_runtime_hooks
from todo_assistant.wiring.session import build_session_app

app = build_session_app()
handler = Mangum(app, lifespan="off")
# SnapStart: warm up before the snapshot, re-seed and reconnect after each restore.
register_runtime_hooks()
