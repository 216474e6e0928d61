"""ChatKit function: the FastAPI app from the shared layer, wired by `wiring/chatkit.py`.

In AWS, uvicorn serves `app` under the Lambda Web Adapter (see run.sh), which streams the SSE
response through the function URL. `handler` (Mangum, buffered) serves `sam local invoke`.
"""

from mangum import Mangum

from todo_assistant.web.snapstart import register_runtime_hooks
from todo_assistant.wiring.chatkit import build_chatkit_app

app = build_chatkit_app()
handler = Mangum(app, lifespan="off")
# SnapStart hooks for the managed runtime (Mangum); under the Web Adapter the app's routes serve.
register_runtime_hooks()
