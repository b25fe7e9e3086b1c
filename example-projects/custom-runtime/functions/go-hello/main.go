// A Go function on the provided.al2023 runtime without dependencies: it talks to the
// Lambda runtime API itself (aws-lambda-go does the same with more care).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
)

type request struct {
	Name string `json:"name"`
}

func handle(payload []byte) ([]byte, error) {
	var req request
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, err
	}
	if req.Name == "" {
		req.Name = "world"
	}
	return json.Marshal(map[string]string{"message": "hello, " + req.Name})
}

func main() {
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/invocation/"
	for {
		next, err := http.Get(api + "next")
		if err != nil {
			fmt.Fprintln(os.Stderr, "runtime API:", err)
			os.Exit(1)
		}
		id := next.Header.Get("Lambda-Runtime-Aws-Request-Id")
		payload, _ := io.ReadAll(next.Body)
		next.Body.Close()
		body, err := handle(payload)
		path := api + id + "/response"
		if err != nil {
			path = api + id + "/error"
			body, _ = json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": "HandlerError"})
		}
		if resp, err := http.Post(path, "application/json", bytes.NewReader(body)); err == nil {
			resp.Body.Close()
		}
	}
}
