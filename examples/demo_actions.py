"""Actions: an agent's typed tools, their JSON schemas, and invoking them across the mesh.

An inventory agent declares two actions with type hints and docstrings. The script prints the
tool schema an LLM would be offered, runs an action directly, invokes one through the mesh (it
runs on the agent's home loop, in turn with its messages), and shows what bad inputs get: an
error naming the field, never a crash.

Run: python examples/demo_actions.py
"""

import asyncio
import json
from dataclasses import dataclass
from enum import Enum

import serendip


class Unit(Enum):
    PIECE = "piece"
    BOX = "box"


@dataclass
class Line:
    sku: str
    quantity: int
    unit: Unit = Unit.PIECE


class Inventory(serendip.Agent):
    """Keeps stock levels; changes arrive as actions."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.stock = {"apple": 10, "pear": 4}

    async def on_message(self, message: str, ctx: serendip.Context) -> int:
        return self.stock.get(message, 0)

    @serendip.action
    def level(self, sku: str) -> int:
        """Current stock of one item.

        Args:
            sku: the item's code.
        """
        return self.stock.get(sku, 0)

    @serendip.action
    async def reserve(self, line: Line, ctx: serendip.Context) -> int:
        """Takes items out of stock; returns what is left.

        Args:
            line: what to take out (``ctx`` is injected, not part of the schema).
        """
        count = line.quantity * (12 if line.unit is Unit.BOX else 1)
        await asyncio.sleep(0)  # a real one would write to a database here
        self.stock[line.sku] = self.stock.get(line.sku, 0) - count
        return self.stock[line.sku]


async def main() -> None:
    async with serendip.LocalMesh("shop") as mesh:
        inventory = mesh.add_agent(Inventory("inventory"))
        tools = {t["function"]["name"]: t["function"] for t in inventory.tool_schemas("openai")}
        print("tools:", ", ".join(f"{name} ({t['description']})" for name, t in tools.items()))
        print("reserve schema:", json.dumps(tools["reserve"]["parameters"], sort_keys=True))
        print("level(apple) =", await inventory.act("level", {"sku": "apple"}))
        left = await mesh.invoke("inventory", "reserve", {"line": {"sku": "apple", "quantity": 3}})
        print("reserved 3 apples, left:", left)
        print("asked by message:", await mesh.query("inventory", "apple"))
        try:
            await mesh.invoke("inventory", "reserve", {"line": {"sku": "pear", "quantity": "many"}})
        except serendip.ActionInputError as error:
            print("bad input:", error)
        try:
            await mesh.invoke("inventory", "restock", {})
        except serendip.ActionNotFound as error:
            print("unknown action:", error)


if __name__ == "__main__":
    asyncio.run(main())
