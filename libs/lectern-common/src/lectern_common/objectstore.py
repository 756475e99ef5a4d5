"""The object store behind a small Protocol (after tusd's ``S3API``), and its S3 implementation.

boto3 is blocking, so every call runs in a thread (STYLE rule 9); the client has connect/read
timeouts and a bounded retry policy so no call can hang a request. Whatever the store fails with
(a botocore error, a refused or reset connection, an error answer) reaches callers as one
:class:`ObjectStoreUnavailable`, so no service imports botocore to tell a storage failure apart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

# The error codes S3-compatible stores answer for an object that is not there.
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class UploadedPart:
    number: int
    etag: str
    size: int


class ObjectStoreUnavailable(Exception):
    """The object store could not do what was asked (unreachable, timed out, or answered an error).

    The message names the operation only, never the SDK's text (it may reach a user); the SDK's
    exception is its ``__cause__``."""


class ObjectStore(Protocol):
    """What services need of an object store; every method raises ObjectStoreUnavailable on failure."""

    bucket: str

    async def put_object(self, key: str, body: bytes | bytearray, content_type: str | None = None) -> None: ...
    async def get_object(self, key: str) -> bytes: ...
    async def head_object(self, key: str) -> dict[str, Any] | None: ...
    async def delete_object(self, key: str) -> None: ...
    async def list_keys(self, prefix: str) -> list[str]: ...
    async def create_multipart_upload(self, key: str, content_type: str | None = None) -> str: ...
    async def upload_part(self, key: str, upload_id: str, number: int, body: bytes | bytearray) -> UploadedPart: ...
    async def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]: ...
    async def complete_multipart_upload(self, key: str, upload_id: str, parts: list[UploadedPart]) -> None: ...
    async def abort_multipart_upload(self, key: str, upload_id: str) -> None: ...
    async def list_multipart_uploads(self, prefix: str = "") -> list[tuple[str, str]]: ...
    async def get_object_range(self, key: str, start: int, end: int) -> bytes: ...


def _without_documentation(node: Any) -> None:
    if isinstance(node, dict):
        if "documentation" in node:
            node["documentation"] = ""  # kept as a key: botocore reads some (clientContextParams)
        for value in node.values():
            _without_documentation(value)
    elif isinstance(node, list):
        for value in node:
            _without_documentation(value)


def _lean_s3_loader(data_path: str | None) -> Any:
    """A botocore data loader that keeps less of botocore's data resident (~8 MiB of RSS for an
    S3 client): the legacy endpoint table (``endpoints.json``, ~6.7 MiB parsed, kept by the
    client's endpoint resolver) is cut to the S3 entries of each partition (the only service a
    client of this session asks it about), and the service model's ``documentation``
    strings are emptied (~1.2 MiB; only docstrings read them). Everything else is loaded as usual."""
    from botocore.loaders import create_loader

    base = type(create_loader(data_path))

    class LeanS3Loader(base):  # type: ignore[misc, valid-type]
        def load_data_with_path(self, name: str) -> Any:
            if name != "endpoints":
                return super().load_data_with_path(name)
            # From a throwaway loader, so the full table is not kept in this loader's cache.
            data, path = create_loader(data_path).load_data_with_path(name)
            partitions = [
                {**partition, "services": {k: v for k, v in partition.get("services", {}).items() if k == "s3"}}
                for partition in data.get("partitions", [])
            ]
            return {**data, "partitions": partitions}, path

        def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
            model = super().load_service_model(service_name, type_name, api_version)
            if type_name == "service-2":
                _without_documentation(model)
            return model

    lean = create_loader(data_path)
    lean.__class__ = LeanS3Loader
    return lean


class S3ObjectStore:
    """ObjectStore over any S3-compatible endpoint (SeaweedFS in dev, S3/MinIO in production)."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str = "us-east-1",
        max_pool_connections: int = 32,
        payload_signing: bool | None = None,
    ) -> None:
        """``payload_signing``: None is botocore's choice (SigV4 signs every body's SHA-256 over
        plain http; over https it does not for streamed bodies with a checksum); False sends
        ``UNSIGNED-PAYLOAD`` (headers stay signed), True always signs."""
        import boto3
        import botocore.session
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        self.bucket = bucket
        # What a call may fail with; OSError covers sockets botocore does not wrap (and timeouts).
        self._failures: tuple[type[BaseException], ...] = (BotoCoreError, ClientError, OSError)
        self._client_error = ClientError
        core = botocore.session.get_session()
        core.register_component("data_loader", _lean_s3_loader(core.get_config_variable("data_path")))
        self._client = boto3.session.Session(botocore_session=core).client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            config=Config(
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=max_pool_connections,
                s3={
                    "addressing_style": "path",
                    **({} if payload_signing is None else {"payload_signing_enabled": payload_signing}),
                },
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    @property
    def client(self) -> Any:
        """The raw boto3 client, for the rare call the Protocol does not cover."""
        return self._client

    async def _call(self, name: str, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(getattr(self._client, name), **kwargs)
        except self._failures as exc:
            raise ObjectStoreUnavailable(f"object store {name} failed") from exc

    async def _read_body(self, response: Any, name: str) -> bytes:
        try:
            data: bytes = await asyncio.to_thread(response["Body"].read)
            return data
        except self._failures as exc:
            raise ObjectStoreUnavailable(f"object store {name} failed reading the body") from exc

    async def ensure_bucket(self) -> None:
        try:
            await self._call("head_bucket", Bucket=self.bucket)
        except ObjectStoreUnavailable:
            await self._call("create_bucket", Bucket=self.bucket)

    async def put_object(self, key: str, body: bytes | bytearray, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        await self._call("put_object", Bucket=self.bucket, Key=key, Body=body, **extra)

    async def get_object(self, key: str) -> bytes:
        response = await self._call("get_object", Bucket=self.bucket, Key=key)
        return await self._read_body(response, "get_object")

    async def head_object(self, key: str) -> dict[str, Any] | None:
        """The object's metadata, or None when there is no such object."""
        try:
            return dict(await self._call("head_object", Bucket=self.bucket, Key=key))
        except ObjectStoreUnavailable as exc:
            if self._is_missing(exc.__cause__):
                return None
            raise

    def _is_missing(self, cause: BaseException | None) -> bool:
        return isinstance(cause, self._client_error) and cause.response.get("Error", {}).get("Code") in _MISSING

    async def delete_object(self, key: str) -> None:
        await self._call("delete_object", Bucket=self.bucket, Key=key)

    async def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = await self._call("list_objects_v2", Bucket=self.bucket, Prefix=prefix, **extra)
            keys += [item["Key"] for item in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return keys
            token = page["NextContinuationToken"]

    async def create_multipart_upload(self, key: str, content_type: str | None = None) -> str:
        extra = {"ContentType": content_type} if content_type else {}
        response = await self._call("create_multipart_upload", Bucket=self.bucket, Key=key, **extra)
        return str(response["UploadId"])

    async def upload_part(self, key: str, upload_id: str, number: int, body: bytes | bytearray) -> UploadedPart:
        """Store one part. A ``bytearray`` body is sent as is (one ``sendall``); botocore wraps a
        ``bytes`` body in a file object and sends it 16 KiB at a time after an ``Expect: 100-continue``
        round trip. The caller must not change the buffer until this returns."""
        response = await self._call(
            "upload_part", Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return UploadedPart(number=number, etag=str(response["ETag"]), size=len(body))

    async def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        parts: list[UploadedPart] = []
        marker = 0
        while True:
            page = await self._call(
                "list_parts", Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker
            )
            parts += [UploadedPart(p["PartNumber"], p["ETag"], p["Size"]) for p in page.get("Parts", [])]
            if not page.get("IsTruncated"):
                return parts
            marker = int(page["NextPartNumberMarker"])

    async def complete_multipart_upload(self, key: str, upload_id: str, parts: list[UploadedPart]) -> None:
        await self._call(
            "complete_multipart_upload",
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": p.number, "ETag": p.etag} for p in parts]},
        )

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        await self._call("abort_multipart_upload", Bucket=self.bucket, Key=key, UploadId=upload_id)

    async def list_multipart_uploads(self, prefix: str = "") -> list[tuple[str, str]]:
        response = await self._call("list_multipart_uploads", Bucket=self.bucket, Prefix=prefix)
        return [(u["Key"], u["UploadId"]) for u in response.get("Uploads", [])]

    async def get_object_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start..end`` (inclusive) of an object, so large objects are read in bounded slices."""
        response = await self._call("get_object", Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end}")
        return await self._read_body(response, "get_object")
