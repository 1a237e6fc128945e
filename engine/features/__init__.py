"""Image understanding for the built-in engine: decode, vectors, local features, ranking.

docs/engine-features.md has the method, the measurements and the thresholds. Each name is
imported from the module that defines it:

* ``decode``: ``decode(bytes) -> Decoded`` accepts PNG, JPEG and BMP by content, applies EXIF
  orientation and refuses decompression bombs; ``ImageRejected`` carries the wire error.
* ``extract``: ``extract(service, image) -> Features``: ``vectors`` (k, VECTOR_DIM)
  VECTOR_DTYPE, unit norm, row 0 the global vector; ``local`` the serialized keypoints for the
  verifying services (same_hq, picturebook), else None. Only ``vectors`` and ``local`` are
  stored. ``query_vectors(...)`` are what the index looks a query up with.
* ``rank``: the index scores an entry by the max cosine over (query vectors x stored
  vectors), keeps the top ``SHORTLIST[service]`` and hands them to ``rank``.
* ``local``: ORB keypoints and geometric verification for the same-image services.
* ``verify``: the shortlist's verification on one process-wide thread pool.
* ``embedder``: the EfficientNet-Lite0 embedding on onnxruntime, model file from settings.
"""
