"""One router per resource; `create_app` composes them."""
