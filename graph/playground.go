package graph

import (
	"embed"
	"io/fs"
	"net/http"
)

// playgroundFiles are GraphiQL and React, served from the binary (playground/README.md says
// where they come from): the playground needs no CDN.
//
//go:embed playground/index.html playground/*.js playground/*.css playground/LICENSES.txt
var playgroundFiles embed.FS

// playground serves the GraphiQL page at / and its assets under /playground/.
func playground(mux *http.ServeMux) {
	assets, err := fs.Sub(playgroundFiles, "playground")
	if err != nil {
		panic(err) // the embedded folder is there: a build without it does not compile
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, assets, "index.html")
	})
	files := http.StripPrefix("/playground/", http.FileServerFS(assets))
	mux.Handle("GET /playground/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/playground/" || r.URL.Path == "/playground/index.html" {
			http.NotFound(w, r) // no listing, and the page only at /
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
}
