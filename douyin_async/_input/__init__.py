"""What users pass as a video: ids, URLs and share texts, and short links resolved to ids.

    _ids       the syntax of an id; ids from URLs and share texts
    _resolve   short links to ids, by following redirects
"""
