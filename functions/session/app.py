"""Session function: client secrets (/session, /session/refresh) and the tasks REST API.

Buffered responses through Mangum on the managed Python runtime; imports no agent code so
it starts in a fraction of the chatkit function's time.
"""

from mangum import Mangum

from todo_assistant.web.session_app import create_session_app

app = create_session_app()
handler = Mangum(app, lifespan="off")
