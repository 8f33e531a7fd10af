"""The connect script: GET /connect.sh."""
