"""The WSGI and Flask layer: the middleware around the app, the error handlers, request
ids, request bodies, the HTML error page, and checks of how decorators are placed."""
