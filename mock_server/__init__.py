"""The stateful Layers mock: a Connexion app driven by openapi.yaml over a SQLite world."""
import warnings

# Connexion imports Starlette's TestClient at import time, and Starlette 1.x warns about httpx
# there; it says nothing about the mock, so partners should not see it at every start.
warnings.filterwarnings("ignore", message="Using .httpx. with .starlette.testclient.")
