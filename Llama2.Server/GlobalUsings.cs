// The server's shared plumbing, which every feature folder uses: request checks and error bodies, the generation queue
// and its streams, the OpenAPI helpers, options and typed results. A feature's own namespace is imported by name where
// another uses it.
global using Llama2.Server.Api;
global using Llama2.Server.Errors;
global using Llama2.Server.OpenApi;
global using Llama2.Server.Serving;
global using Microsoft.AspNetCore.Http.HttpResults;
global using Microsoft.Extensions.Options;
