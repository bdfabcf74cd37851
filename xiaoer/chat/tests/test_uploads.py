"""Uploads are checked by content, stored under an unguessable token, served only within the shop."""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from xiaoer.accounts.models import Role
from xiaoer.chat import services
from xiaoer.testing import PASSWORD, make_seat, make_shop, make_staff, owner_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def png_bytes(size=(40, 30), color=(255, 80, 0)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def upload(name: str, data: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def login(staff) -> Client:
    client = Client()
    assert client.login(username=staff.user.username, password=PASSWORD)
    return client


def test_real_png_is_stored_under_an_unguessable_token():
    shop = make_shop()
    att = services.do_store_image(shop, upload("photo.png", png_bytes()))
    assert (att.width, att.height, att.content_type) == (40, 30, "image/png")
    assert len(att.token) >= 32 and att.token not in ("photo", "photo.png")
    assert att.file.name.endswith(f"{att.token}.png")
    other = services.do_store_image(shop, upload("photo.png", png_bytes()))
    assert other.token != att.token


def test_text_file_named_png_is_refused():
    with pytest.raises(ValidationError):
        services.do_store_image(make_shop(), upload("cat.png", b"<script>alert(1)</script> not an image"))


def test_html_with_image_content_type_and_truncated_png_are_refused():
    shop = make_shop()
    with pytest.raises(ValidationError):
        services.do_store_image(shop, upload("x.jpg", b"<html><body>hi</body></html>", "image/jpeg"))
    with pytest.raises(ValidationError):
        services.do_store_image(shop, upload("broken.png", png_bytes((300, 300))[:200]))


def test_over_the_size_limit_is_refused():
    big = png_bytes() + b"\0" * (settings.MAX_IMAGE_BYTES + 1)
    assert settings.MAX_IMAGE_BYTES == 10 * 1024 * 1024
    with pytest.raises(ValidationError, match="10 MB"):
        services.do_store_image(make_shop(), upload("big.png", big))


def test_oversized_upload_is_refused_over_http():
    shop = make_shop()
    token = services.start_shopper_session(shop).token
    big = png_bytes() + b"\0" * (settings.MAX_IMAGE_BYTES + 100 * 1024)
    res = Client().post(f"/s/{shop.slug}/chat/upload", {"file": upload("big.png", big)},
                        HTTP_AUTHORIZATION=f"Bearer {token}")
    assert res.status_code == 413 and "10 MB" in res.json()["detail"]
    res = login(owner_of(shop)).post("/desk/upload", {"file": upload("big.png", big)})
    assert res.status_code == 413
    just_over = png_bytes() + b"\0" * settings.MAX_IMAGE_BYTES  # passes the early check, not the service
    res = Client().post(f"/s/{shop.slug}/chat/upload", {"file": upload("big.png", just_over)},
                        HTTP_AUTHORIZATION=f"Bearer {token}")
    assert res.status_code == 400 and "10 MB" in res.json()["detail"]


def test_decompression_bomb_is_refused():
    buf = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buf, "PNG")  # tiny file, 144 M pixels
    assert len(buf.getvalue()) < 1024 * 1024
    with pytest.raises(ValidationError) as exc:
        services.do_store_image(make_shop(), upload("bomb.png", buf.getvalue()))
    assert "图片尺寸太大" in exc.value.messages[0]  # not the generic 只能发送图片


def test_large_pixel_count_is_refused_before_decoding(monkeypatch):
    buf = io.BytesIO()
    Image.new("P", (7300, 5440)).save(buf, "PNG")  # 39.7 M pixels in a small file
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(1))
    with pytest.raises(ValidationError) as exc:
        services.check_image(buf.getvalue())
    assert "图片尺寸太大" in exc.value.messages[0] and not decoded


def test_shopper_uploads_are_rate_limited(settings):
    from django.core.cache import cache

    cache.clear()
    settings.CHAT_SHOPPER_UPLOADS_PER_MINUTE = 3
    shop = make_shop()
    mine, other = services.start_shopper_session(shop), services.start_shopper_session(shop)
    url = f"/s/{shop.slug}/chat/upload"

    def post(session):
        return Client().post(url, {"file": upload("a.png", png_bytes())}, HTTP_AUTHORIZATION=f"Bearer {session.token}")

    assert [post(mine).status_code for _ in range(3)] == [201, 201, 201]
    refused = post(mine)
    assert refused.status_code == 429 and "太频繁" in refused.json()["detail"]
    assert post(other).status_code == 201  # per shopper, not per shop


def test_shopper_upload_endpoint_needs_a_token_of_that_shop():
    shop, other = make_shop(), make_shop()
    mine = services.start_shopper_session(shop)
    theirs = services.start_shopper_session(other)
    client = Client()
    url = f"/s/{shop.slug}/chat/upload"
    assert client.post(url, {"file": upload("a.png", png_bytes())}).status_code == 401
    res = client.post(url, {"file": upload("a.png", png_bytes())}, HTTP_AUTHORIZATION=f"Bearer {theirs.token}")
    assert res.status_code == 401
    res = client.post(url, {"file": upload("a.png", b"GIF89a nope")}, HTTP_AUTHORIZATION=f"Bearer {mine.token}")
    assert res.status_code == 400 and "图片" in res.json()["detail"]
    res = client.post(url, {"file": upload("a.png", png_bytes())}, HTTP_AUTHORIZATION=f"Bearer {mine.token}")
    assert res.status_code == 201 and res.json()["attachment"]


def test_file_is_served_to_its_shop_only():
    shop, other = make_shop(), make_shop()
    make_seat(shop, operator=make_staff(shop))
    att = services.do_store_image(shop, upload("a.png", png_bytes()))
    url = f"/files/{att.token}"
    shopper = services.start_shopper_session(shop)
    foreign_shopper = services.start_shopper_session(other)

    assert Client().get(url).status_code == 404
    res = login(owner_of(shop)).get(url)
    assert res.status_code == 200 and res["Content-Type"] == "image/png"
    assert res["X-Content-Type-Options"] == "nosniff"
    assert res.content == att.file.open("rb").read()
    assert login(owner_of(other)).get(url).status_code == 404
    assert login(make_staff(shop, Role.WAREHOUSE)).get(url).status_code == 404
    own = Client().get(url, HTTP_AUTHORIZATION=f"Bearer {shopper.token}")
    assert own.status_code == 200 and own.content == att.file.open("rb").read()  # the image, not a page
    assert Client().get(url, HTTP_AUTHORIZATION=f"Bearer {foreign_shopper.token}").status_code == 404
    assert login(owner_of(shop)).get("/files/not-a-token").status_code == 404


def test_staff_upload_via_desk_and_api():
    shop = make_shop()
    client = login(owner_of(shop))
    res = client.post("/desk/upload", {"file": upload("a.png", png_bytes())})
    assert res.status_code == 201
    res = client.post("/api/chat/uploads", {"file": upload("b.png", png_bytes())})
    assert res.status_code == 200 and res.json()["content_type"] == "image/png"
    res = client.post("/api/chat/uploads", {"file": upload("c.png", b"plain text")})
    assert res.status_code == 400
