"""The Alibaba Cloud Image Search wire (docs/aliyun-wire.md) over the engine's store and index."""
