import os

os.environ.setdefault("XIAOER_DATA_DIR", "/tmp/xiaoer-test-data")
