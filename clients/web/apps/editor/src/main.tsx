import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { LecternClient, sameOriginServiceUrl } from "@lectern/client";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import { App } from "./App.tsx";
import { session } from "./session.ts";
import "./styles.css";

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 10_000,
      // An action error (NOT_FOUND, FORBIDDEN, …) will not change on retry; a network blip may.
      retry: (count, error) => count < 2 && (error as { code?: string }).code === "UNAVAILABLE",
    },
  },
});

// Same origin: the editor's server routes /actions, /auth, /files and /ws to the stack.
const client = new LecternClient({
  baseUrl: "",
  getToken: session.token,
  resolveServiceUrl: sameOriginServiceUrl(window.location.origin),
});

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <App client={client} />
    </QueryClientProvider>
  </StrictMode>,
);
