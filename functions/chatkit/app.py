"""ChatKit function: the FastAPI app from the shared layer, nothing else.

In AWS, uvicorn serves `app` under the Lambda Web Adapter (see run.sh), which streams the SSE
response through the function URL. `handler` (Mangum, buffered) serves `sam local invoke`.
"""

from mangum import Mangum

from todo_assistant.web.chatkit_app import create_chatkit_app

app = create_chatkit_app()
handler = Mangum(app, lifespan="off")
