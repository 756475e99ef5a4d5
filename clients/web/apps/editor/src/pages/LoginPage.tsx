import { isActionError, type LecternClient } from "@lectern/client";
import { useMutation } from "@tanstack/react-query";
import { useForm } from "react-hook-form";

import { session } from "../session.ts";

/** Dev login (`POST /auth/dev/token`): any user id, on stacks started by `make up` only. */
export function LoginPage({ client }: { client: LecternClient }) {
  const form = useForm<{ userId: string }>({ defaultValues: { userId: "" } });
  const login = useMutation({
    mutationFn: async (userId: string) => ({ userId, ...(await client.devLogin(userId)) }),
    onSuccess: ({ userId, token, expiresAt }) => session.signIn({ userId, token, expiresAt }),
  });
  return (
    <div className="login">
      <h1>Lectern editor</h1>
      <form onSubmit={form.handleSubmit(({ userId }) => login.mutate(userId.trim()))}>
        <label>
          User id
          <input data-testid="login-user" autoFocus {...form.register("userId", { required: "a user id", pattern: /\S/ })} />
        </label>
        <button type="submit" data-testid="login-submit" disabled={login.isPending}>
          Sign in (dev)
        </button>
        {form.formState.errors.userId && <p className="error">Enter {form.formState.errors.userId.message ?? "a user id"}</p>}
        {login.error && (
          <p className="error" role="alert">
            {isActionError(login.error) ? `${login.error.code}: ${login.error.message}` : String(login.error)}
          </p>
        )}
      </form>
    </div>
  );
}
