"""The local stack: ``template.yaml`` read as data (tables, routes), a local HTTP gateway, in-process handlers."""
