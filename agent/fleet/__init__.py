"""Fleet config push: signed documents, their verification, and the hub-side service that applies them."""
