enum _Stub {}
