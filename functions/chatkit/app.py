"""ChatKit function: the FastAPI app from the shared layer, nothing else.

In AWS, uvicorn serves `app` under the Lambda Web Adapter (see run.sh), which streams the SSE
response through the function URL. `handler` (Mangum, buffered) serves `sam local invoke`.
"""

from mangum import Mangum

from todo_assistant.web.chatkit_app import create_chatkit_app
from todo_assistant.web.snapstart import register_runtime_hooks

app = create_chatkit_app()
handler = Mangum(app, lifespan="off")
# SnapStart hooks for the managed runtime (Mangum); under the Web Adapter the app's routes serve.
register_runtime_hooks()
