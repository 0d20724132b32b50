module brandmon.io/platform/pause

go 1.24.0
