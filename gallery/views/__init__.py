"""The console's pages, one module per page group (applications, members, libraries, uploads,
search, images, batches, auth); `helpers` holds what they share.

Views are thin: an access helper fetches the object and the caller's role (404 for a
non-member, 403 for a role too low), a form validates, a service writes, a selector reads.
Mutations are POST-only with CSRF and end in a redirect, a JSON answer or a fragment; a GET
writes nothing, and no view calls the network itself."""
